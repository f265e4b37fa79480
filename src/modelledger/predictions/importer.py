"""Importing predictions from a file an external server wrote: JSONL (one record per line) or
Parquet (one record per row), hashed as it is read so that the event names the file's sha256."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from modelledger.core.errors import InvalidInput, NotFound
from modelledger.ledger.home import Ledger
from modelledger.predictions.ingest import CHUNK, IngestReport, Refused, ingest, name_collision
from modelledger.predictions.json_text import BadLine, jsonl_records

PARQUET_MAGIC = b"PAR1"


def file_format(path: Path) -> str:
    """``jsonl`` or ``parquet``, by suffix, else by the Parquet magic bytes."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    with open(path, "rb") as f:
        return "parquet" if f.read(4) == PARQUET_MAGIC else "jsonl"


def require_file(path: Path) -> None:
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")


class HashingLines:
    """The file's lines, hashing the bytes as they are read (the event records the file's sha256)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            for line in f:
                self.sha.update(line)
                yield line


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
    require_file(path)
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

        lines = HashingLines(path)
        records = jsonl_records(lines)
        file_sha = None
    records = pinned(ledger, records, where)
    details: dict[str, Any] = {"file": path.name, "format": fmt}
    try:
        if lines is not None:
            # The JSONL file is hashed while it is read; the event is written after the read.
            report = _ingest_hashing(
                ledger, records, env, where, chunk_size=chunk_size, details=details, lines=lines
            )
        else:
            details["file_sha256"] = file_sha
            report = ingest(
                ledger, records, env, str(path), where, chunk_size=chunk_size, details=details
            )
    except Refused as refused:
        raise InvalidInput(name_collision(ledger, refused, where)) from None
    return report


_FULL_ID_LENGTHS = (67, 68)  # mv-<64 hex>, sys-<64 hex>


def pinned(
    ledger: Ledger, records: Iterable[tuple[int, Any]], where: Callable[[int], str]
) -> Iterator[tuple[int, Any]]:
    """The records with each ``version_id`` given as ``NAME@N`` or a unique prefix replaced by
    the full id it names (each resolved once). ``NAME@ENV`` and ``NAME@latest`` are refused:
    which version answered is a fact of the past, and they name whatever is live now."""
    from modelledger.core.refs import NameEnv, parse_ref
    from modelledger.models.resolve import resolve_subject

    seen: dict[str, str] = {}
    for position, record in records:
        ref = record.get("version_id") if type(record) is dict else None
        if type(ref) is str and len(ref) not in _FULL_ID_LENGTHS:
            if ref not in seen:
                try:
                    floating = isinstance(parse_ref(ref), NameEnv)
                except InvalidInput:
                    floating = False  # not a reference: the batch's own check names it
                if floating:
                    raise InvalidInput(
                        f"{where(position)}: version_id {ref!r} floats (it names what is live "
                        "now, not what answered then): give NAME@N or the id; nothing was logged"
                    )
                try:
                    with ledger.db.read() as conn:
                        seen[ref] = resolve_subject(conn, ref)
                except InvalidInput:
                    seen[ref] = ref  # left for the batch's own check, which names the line
                except NotFound as exc:
                    raise NotFound(
                        f"{where(position)}: version_id {exc}; nothing was logged"
                    ) from None
            record = {**record, "version_id": seen[ref]}
        yield position, record


def _ingest_hashing(
    ledger: Ledger,
    records: Iterable[tuple[int, Any]],
    env: str,
    where: Callable[[int], str],
    *,
    chunk_size: int,
    details: dict[str, Any],
    lines: HashingLines,
) -> IngestReport:
    def finished() -> Iterator[tuple[int, Any]]:
        yield from records
        # read to the end: the digest is complete before the event (which carries it) is built
        details["file_sha256"] = lines.sha.hexdigest()

    return ingest(
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
