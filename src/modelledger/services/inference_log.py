"""The inference log: every prediction, served or shadow, with its input hash, output and the
version that answered; features in append-only Parquet segments; ground truth later as feedback.

Three ways in, one path: ``log_predictions`` (records in process), ``import_file`` (JSONL or
Parquet from an external server) and :class:`PredictionLogger` (the serving layer's asynchronous
batched writer). A batch is all or nothing: the first bad record is named (with the line number for
files) and nothing is written. Every batch appends one ``predictions.imported`` event, with
subject ``predictions:ENV`` so that an environment's own history (``audit log --env``) stays
about promotions and rollbacks.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import queue
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from uuid import UUID

from modelledger.domain.environment import validate_env_name
from modelledger.domain.errors import InvalidInput
from modelledger.domain.predictions import (
    BadRecord,
    Batch,
    BatchBuilder,
    RequestIds,
    describe_errors,
    iter_jsonl,
    new_request_id,
    parse_json_line,
    segment_columns,
    validate_feedback,
)
from modelledger.services.ledger import Ledger, now
from modelledger.store import predictions as store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

CHUNK = 100_000  # records per segment (and per bulk insert) of a large import
PARQUET_MAGIC = b"PAR1"


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


class _Refused(Exception):
    """A chunk whose rows collided with logged ones; carries it so the message can name a line."""

    def __init__(self, batch: Batch, cause: store.AlreadyLogged) -> None:
        super().__init__(str(cause))
        self.batch = batch
        self.cause = cause


def _known(conn: Connection) -> Callable[[str], bool]:
    def known(id_: str) -> bool:
        return bool(store.existing_subjects(conn, [id_]))

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
            store.insert_segment(
                self.conn,
                segment,
                batch.env,
                batch.first_served_at,
                batch.last_served_at,
                with_features,
                size,
                self.at,
                self.ledger.user,
            )
            self.totals.segments.append(segment)
        try:
            store.insert_predictions(self.conn, batch.rows, segment)
        except store.AlreadyLogged as exc:
            raise _Refused(batch, exc) from None
        self.totals.add(batch)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _ingest(
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
    validate_env_name(env)
    if chunk_size < 1:
        raise InvalidInput("chunk_size must be at least 1")
    with ledger.db.write() as conn:
        from modelledger.services.environments import require_env

        require_env(conn, env)
        at = now()
        known = _known(conn)
        totals = _Totals()

        def builder() -> BatchBuilder:
            return BatchBuilder(env, at, request_ids(), known, exclude=exclude)

        current = builder()
        writer = _ChunkWriter(ledger, conn, totals, at)
        try:
            for position, record in records:
                if type(record) is BadLine:
                    current.fail(position, record.message)
                else:
                    current.add(record, position)
                if len(current.batch.rows) >= chunk_size:
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
            from modelledger.store import events

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


def _name_collision(ledger: Ledger, refused: _Refused, where: Callable[[int], str]) -> str:
    """After the rollback: which record of the refused chunk was logged before."""
    batch = refused.batch
    with ledger.db.read() as conn:
        logged = store.logged_keys(conn, [r[0] for r in batch.rows])
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
        return _ingest(
            ledger,
            enumerate(items, 1),
            env,
            source,
            where,
            chunk_size=chunk_size,
            skip_invalid=skip_invalid,
        )
    except _Refused as refused:
        if not skip_invalid:
            raise InvalidInput(_name_collision(ledger, refused, where)) from None
    # Some records were logged before (a retried flush): leave exactly those out, once.
    assert isinstance(items, list)
    with ledger.db.read() as conn:
        ids = [r.get("request_id") for r in items if isinstance(r, Mapping)]
        logged = store.logged_keys(conn, [i for i in ids if isinstance(i, str)])
    return _ingest(
        ledger,
        enumerate(items, 1),
        env,
        source,
        where,
        chunk_size=chunk_size,
        skip_invalid=True,
        exclude=frozenset(logged),
    )


# --- files -------------------------------------------------------------------------------------


def file_format(path: Path) -> str:
    """``jsonl`` or ``parquet``, by suffix, else by the Parquet magic bytes."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    with open(path, "rb") as f:
        return "parquet" if f.read(4) == PARQUET_MAGIC else "jsonl"


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")


class _HashingLines:
    """The file's lines, hashing the bytes as they are read (the event records the file's sha256)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            for line in f:
                self.sha.update(line)
                yield line


@dataclass(frozen=True)
class BadLine:
    """A line or row that is not a record at all (malformed JSON, an unconvertible value)."""

    message: str


def _jsonl_records(lines: Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    for number, line in iter_jsonl(lines):
        try:
            yield number, parse_json_line(line)
        except InvalidInput as exc:
            yield number, BadLine(str(exc))


def _jsonable(value: Any) -> Any:
    """DuckDB's Python values as JSON values (Parquet decimals, timestamps, UUIDs…)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    raise InvalidInput(f"a {type(value).__name__} value has no JSON form")


def _parquet_records(path: Path, batch: int = 50_000) -> Iterator[tuple[int, Any]]:
    import duckdb

    from modelledger.tabular import connect
    from modelledger.tabular.sql import literal

    con = connect()
    try:
        try:
            cur = con.execute(f"SELECT * FROM read_parquet({literal(str(path))})")
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise InvalidInput(f"{path.name}: not a readable Parquet file ({first})") from None
        names = [d[0] for d in cur.description]
        position = 0
        while rows := cur.fetchmany(batch):
            for row in rows:
                position += 1
                record: dict[str, Any] = {}
                for name, value in zip(names, row, strict=True):
                    if value is None:
                        continue
                    if name == "served_at" and isinstance(value, datetime):
                        record[name] = value
                    else:
                        try:
                            record[name] = _jsonable(value)
                        except InvalidInput as exc:
                            yield position, BadLine(f"{name}: {exc}")
                            break
                else:
                    yield position, record
    finally:
        con.close()


def import_file(ledger: Ledger, path: Path, env: str, *, chunk_size: int = CHUNK) -> IngestReport:
    """Import a JSONL (one record per line) or Parquet (one record per row) file as one batch:
    all or nothing, the first bad line named."""
    _require_file(path)
    fmt = file_format(path)
    if fmt == "parquet":
        label = f"{path.name} row"

        def where(position: int) -> str:
            return f"{label} {position}"

        file_sha = _file_sha256(path)
        records: Iterable[tuple[int, Any]] = _parquet_records(path)
        lines = None
    else:

        def where(position: int) -> str:
            return f"{path.name} line {position}"

        lines = _HashingLines(path)
        records = _jsonl_records(lines)
        file_sha = None
    details: dict[str, Any] = {"file": path.name, "format": fmt}
    try:
        if lines is not None:
            # The JSONL file is hashed while it is read; the event is written after the read.
            report = _ingest_hashing(ledger, records, env, where, chunk_size, details, lines)
        else:
            details["file_sha256"] = file_sha
            report = _ingest(
                ledger, records, env, str(path), where, chunk_size=chunk_size, details=details
            )
    except _Refused as refused:
        raise InvalidInput(_name_collision(ledger, refused, where)) from None
    return report


def _ingest_hashing(
    ledger: Ledger,
    records: Iterable[tuple[int, Any]],
    env: str,
    where: Callable[[int], str],
    chunk_size: int,
    details: dict[str, Any],
    lines: _HashingLines,
) -> IngestReport:
    def finished() -> Iterator[tuple[int, Any]]:
        yield from records
        # read to the end: the digest is complete before the event (which carries it) is built
        details["file_sha256"] = lines.sha.hexdigest()

    return _ingest(
        ledger,
        finished(),
        env,
        str(lines.path),
        where,
        chunk_size=chunk_size,
        details=details,
    )


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


# --- feedback ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackReport:
    recorded: int
    unknown: tuple[tuple[int, str], ...]  # (position, request id), the first few
    unknown_count: int
    event_seq: int | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded,
            "unknown_count": self.unknown_count,
            "unknown": [{"position": p, "request_id": r} for p, r in self.unknown],
            "event": self.event_seq,
            "source": self.source,
        }


def record_feedback(
    ledger: Ledger,
    records: Iterable[tuple[int, Any]],
    source: str,
    where: Callable[[int], str],
    details: dict[str, Any] | None = None,
    keep: int = 20,
) -> FeedbackReport:
    """Append ground truth for logged requests. A malformed record refuses the whole input
    (named, nothing written); feedback for a request id the log does not hold is left out,
    counted and reported, and the rest is recorded."""
    items = []
    errors: list[BadRecord] = []
    error_count = 0
    for position, record in records:
        try:
            if type(record) is BadLine:
                raise InvalidInput(record.message)
            items.append((position, validate_feedback(record)))
        except InvalidInput as exc:
            error_count += 1
            if len(errors) < 5:
                errors.append(BadRecord(position, str(exc)))
    if error_count:
        raise InvalidInput(describe_errors(errors, error_count, where) + "; nothing was recorded")
    with ledger.db.write() as conn:
        known = store.known_requests(conn, [i.request_id for _, i in items])
        good = [i for _, i in items if i.request_id in known]
        missing = [(p, i.request_id) for p, i in items if i.request_id not in known]
        event_seq = None
        if good:
            from modelledger.store import events

            at = now()
            store.insert_feedback(conn, good, at, ledger.user, source)
            payload = {
                "count": len(good),
                "unknown": len(missing),
                "source": source,
                **(details or {}),
            }
            event_seq = events.append(
                conn, "feedback.imported", "feedback", ledger.user, at, payload
            ).seq
    return FeedbackReport(len(good), tuple(missing[:keep]), len(missing), event_seq, source)


def import_feedback(ledger: Ledger, path: Path) -> FeedbackReport:
    """Feedback from a JSONL file: ``{"request_id": …, "label": … | "was_correct": …,
    "failure_cluster": …}`` per line."""
    _require_file(path)
    if file_format(path) != "jsonl":
        raise InvalidInput(f"{path.name}: feedback is read from JSONL (one JSON object per line)")
    lines = _HashingLines(path)
    records = list(_jsonl_records(lines))
    return record_feedback(
        ledger,
        records,
        str(path),
        lambda p: f"{path.name} line {p}",
        {"file": path.name, "file_sha256": lines.sha.hexdigest()},
    )


# --- the asynchronous batched writer -----------------------------------------------------------

_STOP = object()


class PredictionLogger:
    """Logs predictions off the request path: ``log`` puts the record on a queue and returns the
    request id at once; a background thread writes a batch every ``max_batch`` records or
    ``interval`` seconds, whichever comes first. ``close`` (also run at interpreter exit, and on
    SIGTERM when ``handle_sigterm``) writes what is queued.

    A batch that fails leaves out its bad records (logged, counted in ``rejected``) and writes the
    rest; a batch the store refuses altogether is counted in ``lost``. A full queue drops the new
    record (counted in ``dropped``) rather than block a request."""

    def __init__(
        self,
        ledger: Ledger,
        env: str,
        *,
        max_batch: int = 5000,
        interval: float = 1.0,
        max_queue: int = 1_000_000,
        handle_sigterm: bool = False,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        validate_env_name(env)
        if max_batch < 1 or interval <= 0:
            raise InvalidInput("max_batch must be at least 1 and interval positive")
        self.ledger = ledger
        self.env = env
        self.max_batch = max_batch
        self.interval = interval
        self.on_error = on_error
        self.written = 0
        self.rejected = 0
        self.lost = 0
        self.dropped = 0
        self.batches = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._flushed = threading.Condition()
        self._pending = 0
        self._closed = False
        _ = ledger.db, ledger.blobs  # open both here: the cached properties are not thread-safe
        with ledger.db.read() as conn:
            from modelledger.services.environments import require_env

            require_env(conn, env)
        self._thread = threading.Thread(target=self._run, name=f"mledger-log-{env}", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        self._previous: Any = None
        if handle_sigterm:
            if threading.current_thread() is not threading.main_thread():
                self.close()
                raise InvalidInput(
                    "handle_sigterm: signal handlers can only be set from the main thread"
                )
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

    def log(self, record: Mapping[str, Any]) -> str:
        """Queue one prediction; returns its request id (minted here when absent, so the caller
        can hand it back to its client)."""
        if self._closed:
            raise InvalidInput("this prediction logger is closed")
        item = dict(record)
        request_id = item.get("request_id")
        if request_id is None:
            request_id = item["request_id"] = mint_request_id()
        if item.get("served_at") is None:
            item["served_at"] = time.time()
        with self._flushed:
            self._pending += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._flushed:
                self._pending -= 1
                self.dropped += 1
        return str(request_id)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written (or given up on); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._flushed:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._queue.put(None)  # wake the writer: write what it holds now
                self._flushed.wait(left if left is not None else 0.5)
        return True

    def close(self, timeout: float | None = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        atexit.unregister(self.close)

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.close()
        previous = self._previous
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)
        elif previous in (signal.SIG_DFL, None):
            os.kill(os.getpid(), signal.SIGTERM)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[dict[str, Any]] = []
            deadline = None
            while len(batch) < self.max_batch:
                wait = self.interval if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    break
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    if batch:
                        break
                    continue
                if item is _STOP:
                    stop = True
                    # everything put before the stop is ahead of it in the queue
                    break
                if item is None:  # a flush request
                    if batch:
                        break
                    with self._flushed:
                        self._flushed.notify_all()
                    continue
                batch.append(item)
                if deadline is None:
                    deadline = time.monotonic() + self.interval
            if batch:
                self._write(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            report = log_predictions(
                self.ledger, batch, self.env, source="logger", skip_invalid=True
            )
            self.written += report.count
            self.rejected += report.rejected_count
            self.batches += 1
            for bad in report.rejected:
                log.warning("prediction not logged (record %d of a batch): %s", *_bad(bad))
        except Exception as exc:  # the writer thread must not die
            self.lost += len(batch)
            log.error("could not log %d predictions: %s", len(batch), exc)
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            with self._flushed:
                self._pending -= len(batch)
                self._flushed.notify_all()


def _bad(bad: BadRecord) -> tuple[int, str]:
    return bad.position, bad.message
