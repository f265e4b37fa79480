"""The inference log: every prediction, served or shadow, with its input hash, output and the
version that answered; features in append-only Parquet segments; ground truth later as feedback
(``feedback``).

Three ways in, one path (the chunked ingest here): ``log_predictions`` (records in process),
``prediction_import.import_file`` (JSONL or Parquet from an external server) and
``durable_log.DurableLog`` (the serving layer's journal, drained here). A batch
is all or nothing: the first bad record is named (with the line number for files) and nothing is
written. Every batch appends one ``predictions.imported`` event, with subject ``predictions:ENV``
so that an environment's own history (``audit log --env``) stays about promotions and rollbacks.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelledger.core.errors import InvalidInput
from modelledger.ledger.home import Ledger, now
from modelledger.predictions.batch import (
    BadRecord,
    Batch,
    BatchBuilder,
    describe_errors,
    segment_columns,
)
from modelledger.predictions.records import RequestIds, new_request_id
from modelledger.predictions.store import reads, writes
from modelledger.releases.environment import validate_env_name

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# Records per segment (and per bulk insert). Chunks overlap: a chunk's segment is written on a
# worker thread while the next is validated, so smaller chunks hide more of it; 50k measured
# faster than 100k (benchmarks/bench_inference_log.py) and keeps segments few.
CHUNK = 50_000


def mint_request_id() -> str:
    return new_request_id(time.time_ns() // 1_000_000, _random74())


def _random74() -> int:
    return int.from_bytes(os.urandom(10), "big") >> 6


def request_ids() -> RequestIds:
    return RequestIds(time.time_ns() // 1_000_000, _random74())


@dataclass(frozen=True)
class IngestReport:
    env: str
    count: int
    served: int
    shadow: int
    segments: tuple[str, ...]
    first_served_at: str | None
    last_served_at: str | None
    event_seq: int | None
    source: str
    rejected: tuple[BadRecord, ...] = ()
    rejected_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "count": self.count,
            "served": self.served,
            "shadow": self.shadow,
            "segments": list(self.segments),
            "first_served_at": self.first_served_at,
            "last_served_at": self.last_served_at,
            "event": self.event_seq,
            "source": self.source,
            "rejected": [{"position": r.position, "message": r.message} for r in self.rejected],
            "rejected_count": self.rejected_count,
        }


@dataclass
class _Totals:
    count: int = 0
    served: int = 0
    shadow: int = 0
    segments: list[str] = field(default_factory=list)
    first: str | None = None
    last: str | None = None
    rejected: list[BadRecord] = field(default_factory=list)
    rejected_count: int = 0

    def add(self, batch: Batch) -> None:
        self.count += len(batch.rows)
        self.served += batch.served
        self.shadow += batch.shadow
        if batch.first_served_at and (self.first is None or batch.first_served_at < self.first):
            self.first = batch.first_served_at
        if batch.last_served_at and (self.last is None or batch.last_served_at > self.last):
            self.last = batch.last_served_at


class Refused(Exception):
    """A chunk whose rows collided with logged ones; carries it so the message can name a line."""

    def __init__(self, batch: Batch, cause: writes.AlreadyLogged) -> None:
        super().__init__(str(cause))
        self.batch = batch
        self.cause = cause


def _known(conn: Connection) -> Callable[[str], bool]:
    def known(id_: str) -> bool:
        return bool(reads.existing_subjects(conn, [id_]))

    return known


def write_segment(
    ledger: Ledger, lines: list[str], feature_types: Mapping[str, type] | None = None
) -> tuple[str, int]:
    """The feature lines as one Parquet file in the blob store: (sha256, size). Columns are typed
    from ``feature_types`` (one pass, no sniffing); should DuckDB refuse that (an integer beyond
    64 bits, say), it reads the lines again and infers the types itself."""
    import duckdb

    from modelledger.tabular import connect
    from modelledger.tabular.sql import literal

    with tempfile.TemporaryDirectory(prefix="mledger-segment-") as tmp:
        source = Path(tmp, "features.jsonl")
        with open(source, "w", encoding="utf-8") as out:
            out.write("\n".join(lines))
            out.write("\n")
        target = Path(tmp, "segment.parquet")
        reader = f"read_json({literal(str(source))}, format = 'newline_delimited'"
        typed = None
        if feature_types is not None:
            columns = segment_columns(feature_types)
            struct = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in columns.items())
            typed = f"{reader}, columns = {{{struct}}})"
        inferred = f"{reader}, sample_size = -1, maximum_object_size = 268435456)"
        con = connect()
        try:
            for attempt in (typed, inferred):
                if attempt is None:
                    continue
                try:
                    con.execute(
                        f"COPY (SELECT * FROM {attempt}) "
                        f"TO {literal(str(target))} (FORMAT parquet, COMPRESSION zstd)"
                    )
                    break
                except duckdb.Error as exc:
                    if attempt is inferred:
                        first = str(exc).strip().splitlines()[0]
                        raise InvalidInput(
                            f"features could not be written as Parquet: {first}"
                        ) from None
        finally:
            con.close()
        info = ledger.blobs.put_file(target)
    return info.sha256, info.size


class _ChunkWriter:
    """Writes an ingest's chunks in order, in the caller's transaction. A chunk's Parquet segment
    is made on a worker thread (DuckDB and hashing run without the GIL) while the caller goes on
    validating the next chunk; the chunk's rows, which name the segment, follow once it exists."""

    def __init__(self, ledger: Ledger, conn: Connection, totals: _Totals, at: str) -> None:
        self.ledger = ledger
        self.conn = conn
        self.totals = totals
        self.at = at
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[Batch, Future[tuple[str, int]] | None] | None = None

    def submit(self, batch: Batch) -> None:
        future = None
        if batch.feature_lines:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="mledger-segment")
            future = self._pool.submit(
                write_segment, self.ledger, batch.feature_lines, batch.feature_types
            )
        self.drain()
        self._pending = (batch, future)

    def drain(self) -> None:
        if self._pending is None:
            return
        batch, future = self._pending
        self._pending = None
        segment = None
        if future is not None:
            segment, size = future.result()
            with_features = len(batch.feature_lines)
            assert batch.first_served_at is not None and batch.last_served_at is not None
            record = writes.SegmentRecord(
                segment_id=segment,
                env=batch.env,
                first_served_at=batch.first_served_at,
                last_served_at=batch.last_served_at,
                row_count=with_features,
                size=size,
            )
            writes.insert_segment(self.conn, record, at=self.at, user=self.ledger.user)
            self.totals.segments.append(segment)
        try:
            writes.insert_predictions(self.conn, batch.rows, segment)
        except writes.AlreadyLogged as exc:
            raise Refused(batch, exc) from None
        self.totals.add(batch)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def ingest(
    ledger: Ledger,
    records: Iterable[tuple[int, Any]],
    env: str,
    source: str,
    where: Callable[[int], str],
    *,
    chunk_size: int = CHUNK,
    skip_invalid: bool = False,
    exclude: frozenset[tuple[str, str, str]] = frozenset(),
    details: dict[str, Any] | None = None,
) -> IngestReport:
    """The one path in: (position, record) pairs validated and written in chunks, in one
    transaction, then one event. Refused when a chunk collides with logged rows: the caller, after
    the rollback, names the record with ``name_collision``."""
    validate_env_name(env)
    if chunk_size < 1:
        raise InvalidInput("chunk_size must be at least 1")
    with ledger.db.write(bulk=True) as conn:
        from modelledger.releases.environments import require_env

        require_env(conn, env)
        at = now()
        known = _known(conn)
        totals = _Totals()

        def builder() -> BatchBuilder:
            return BatchBuilder(env, at, request_ids(), known, exclude=exclude)

        current = builder()
        writer = _ChunkWriter(ledger, conn, totals, at)
        pending = iter(records)
        try:
            while current.add_from(pending, chunk_size):
                if current.error_count and not skip_invalid:
                    # Nothing will be written: keep reading only to report every bad record.
                    current.batch = Batch(env)
                    continue
                writer.submit(current.batch)
                _collect(totals, current)
                current = builder()
            if current.error_count and not skip_invalid:
                raise InvalidInput(
                    describe_errors(current.errors, current.error_count, where)
                    + "; nothing was imported"
                )
            if current.batch.rows:
                writer.submit(current.batch)
            writer.drain()
        finally:
            writer.close()
        _collect(totals, current)
        event_seq = None
        if totals.count:
            from modelledger.ledger import events

            payload = {
                "env": env,
                "count": totals.count,
                "served": totals.served,
                "shadow": totals.shadow,
                "segments": totals.segments,
                "first_served_at": totals.first,
                "last_served_at": totals.last,
                "source": source,
                "rejected": totals.rejected_count,
                **(details or {}),
            }
            event_seq = events.append(
                conn, "predictions.imported", f"predictions:{env}", ledger.user, at, payload
            ).seq
    return IngestReport(
        env=env,
        count=totals.count,
        served=totals.served,
        shadow=totals.shadow,
        segments=tuple(totals.segments),
        first_served_at=totals.first,
        last_served_at=totals.last,
        event_seq=event_seq,
        source=source,
        rejected=tuple(totals.rejected),
        rejected_count=totals.rejected_count,
    )


def _collect(totals: _Totals, builder: BatchBuilder) -> None:
    totals.rejected_count += builder.error_count
    totals.rejected.extend(builder.errors[: max(0, 20 - len(totals.rejected))])


def name_collision(ledger: Ledger, refused: Refused, where: Callable[[int], str]) -> str:
    """After the rollback: which record of the refused chunk was logged before."""
    batch = refused.batch
    with ledger.db.read() as conn:
        logged = reads.logged_keys(conn, [r[0] for r in batch.rows])
    for row, position in zip(batch.rows, batch.positions, strict=True):
        if (row[0], row[1], row[2]) in logged:
            return (
                f"{where(position)}: request {row[0]} ({row[1]} by {row[2]}) is already logged; "
                "nothing was imported"
            )
    return f"a request is logged twice in this input ({refused.cause}); nothing was imported"


def log_predictions(
    ledger: Ledger,
    records: Iterable[Mapping[str, Any]],
    env: str,
    *,
    source: str = "api",
    chunk_size: int = CHUNK,
    skip_invalid: bool = False,
) -> IngestReport:
    """Validate and append the records (see ``domain.predictions`` for the fields) as one batch.

    All or nothing by default: InvalidInput names the first bad record (by its 1-based position)
    and nothing is written. With ``skip_invalid`` the bad records are left out and listed in the
    report instead (the serving layer's logger: one bad record must not lose its neighbours)."""

    def where(position: int) -> str:
        return f"record {position}"

    items = list(records) if skip_invalid else records
    try:
        return ingest(
            ledger,
            enumerate(items, 1),
            env,
            source,
            where,
            chunk_size=chunk_size,
            skip_invalid=skip_invalid,
        )
    except Refused as refused:
        if not skip_invalid:
            raise InvalidInput(name_collision(ledger, refused, where)) from None
    # Some records were logged before (a retried flush): leave exactly those out, once.
    assert isinstance(items, list)
    with ledger.db.read() as conn:
        ids = [r.get("request_id") for r in items if isinstance(r, Mapping)]
        logged = reads.logged_keys(conn, [i for i in ids if isinstance(i, str)])
    return ingest(
        ledger,
        enumerate(items, 1),
        env,
        source,
        where,
        chunk_size=chunk_size,
        skip_invalid=True,
        exclude=frozenset(logged),
    )
