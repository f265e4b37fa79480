"""Opening tables as DuckDB views, and turning DuckDB's read errors into ``InvalidInput``.

CSV is read strictly: a header row, one delimiter we choose (the sniffer may still detect quoting),
no null padding and no skipped rows, so a ragged file is an error rather than silently padded or —
worse — re-sniffed into a different shape. DuckDB guesses column types from a sample of rows; when
a value further down does not fit its guess, the whole operation is run again with types guessed
from every row (see ``with_reader``), because a valid file must not be rejected for being long.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb

from modelledger.core.errors import InvalidInput
from modelledger.tabular.connection import connect
from modelledger.tabular.sql import ident, literal
from modelledger.tabular.table import Table

T = TypeVar("T")
Params = Sequence[object] | Mapping[str, object]

_STRICT_CSV = "header=true, skip=0, strict_mode=true, null_padding=false, ignore_errors=false"
# Errors DuckDB raises for files it cannot read; anything else (binder, parser, out of memory) is
# a bug or a resource problem of ours and should surface as itself.
_READ_ERRORS = (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.IOException)
_RAGGED_SCAN_LIMIT = 1_000_000  # rows the fallback diagnosis looks at before giving up


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class Source:
    """A table opened in a connection: the view to select from and its columns."""

    table: Table
    view: str  # already quoted
    columns: tuple[Column, ...]

    @property
    def label(self) -> str:
        return self.table.label

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def type_of(self, name: str) -> str | None:
        for column in self.columns:
            if column.name == name:
                return column.type
        return None

    def require(self, names: Iterable[str], option: str) -> None:
        """Raise InvalidInput for the first of ``names`` this table lacks, e.g. ``--key id: …``."""
        for name in names:
            if self.type_of(name) is None:
                raise InvalidInput(f"{option} {name}: not a column of {self.label}")


class _TypeGuessMissed(Exception):
    """A CSV value did not fit the type DuckDB guessed from its sample; retry with all rows."""


class Reader:
    """One DuckDB connection and the tables opened in it, with errors named after their file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, full_sniff: bool) -> None:
        self.con = con
        self._full_sniff = full_sniff
        self._sources: list[Source] = []

    def open(self, table: Table) -> Source:
        _check_not_empty(table)
        describe = f"DESCRIBE SELECT * FROM {self._scan(table, typed=None)}"
        rows = self._run(describe, (), [table], opening=True)
        columns = tuple(Column(str(r[0]), str(r[1])) for r in rows)
        view = ident(f"t{len(self._sources)}")
        scan = self._scan(table, typed=columns)
        self._run(f"CREATE TEMP VIEW {view} AS SELECT * FROM {scan}", (), [table], opening=True)
        source = Source(table, view, columns)
        self._sources.append(source)
        return source

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return self._run(sql, params, [s.table for s in self._sources])

    def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...]:
        rows = self.fetchall(sql, params)
        return rows[0]

    def _scan(self, table: Table, typed: tuple[Column, ...] | None) -> str:
        path = literal(table.path)
        if not table.is_delimited:
            return f"read_parquet({path})"
        delim = "'\\t'" if table.fmt.startswith("tsv") else "','"
        compression = "'gzip'" if table.fmt.endswith(".gz") else "'none'"
        options = f"{_STRICT_CSV}, delim={delim}, compression={compression}"
        if typed is None:
            if self._full_sniff:
                options += ", sample_size=-1"
        else:
            # Pin the types found once, so every later query reads the file the same way and
            # does not re-guess them (which with sample_size=-1 would re-read the whole file).
            pairs = ", ".join(f"{literal(c.name)}: {literal(c.type)}" for c in typed)
            options += f", columns={{{pairs}}}"
        return f"read_csv({path}, {options})"

    def _run(
        self, sql: str, params: Params, tables: list[Table], *, opening: bool = False
    ) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(
                sql, params if isinstance(params, Mapping) else list(params)
            ).fetchall()
        except duckdb.Error as exc:
            if not _is_read_error(exc, opening, tables):
                raise
            raise self._translate(exc, tables) from exc

    def _translate(self, exc: duckdb.Error, tables: list[Table]) -> Exception:
        message = str(exc)
        culprits = [t for t in tables if t.path in message]
        if not culprits and len(tables) > 1:
            # Parquet decoding errors do not name their file; find it by reading each alone.
            found = self._probe(tables)
            if len(found) == 1:
                culprits, message = [found[0][0]], found[0][1]
        culprits = culprits or tables
        if (
            isinstance(exc, duckdb.ConversionException)
            and "auto-detected" in message
            and not self._full_sniff
            and any(t.is_delimited for t in culprits)
        ):
            return _TypeGuessMissed(message)
        if len(culprits) == 1:
            table = culprits[0]
            detail = _explain(message, table)
            if type(exc) is duckdb.Error:
                detail = f"corrupt or not {table.fmt}? ({detail})"
            return InvalidInput(f"{table.label}: cannot read as {table.fmt}: {detail}")
        labels = " or ".join(t.label for t in culprits)
        return InvalidInput(f"{labels}: cannot read: {_summary(message, culprits)}")

    def _probe(self, tables: list[Table]) -> list[tuple[Table, str]]:
        failing = []
        for source in self._sources:
            if source.table in tables:
                try:
                    # hash() makes DuckDB decode every value; count() would use row-group stats.
                    self.con.execute(f"SELECT min(hash(COLUMNS(*))) FROM {source.view}").fetchall()
                except duckdb.Error as exc:
                    failing.append((source.table, str(exc)))
        return failing


def _is_read_error(exc: duckdb.Error, opening: bool, tables: list[Table]) -> bool:
    if isinstance(exc, duckdb.OutOfMemoryException | duckdb.InterruptException):
        return False
    if opening:
        return True  # the statement only describes the file: whatever went wrong is the file
    if isinstance(exc, duckdb.IOException):
        # Only when it is about one of our files: a full temp disk is not the user's input.
        return any(t.path in str(exc) for t in tables)
    # Thrift decoding errors of a corrupt Parquet footer or page header arrive as the bare base
    # class ("invalid TType", "don't know what type").
    return isinstance(exc, _READ_ERRORS) or type(exc) is duckdb.Error


def with_reader(operation: Callable[[Reader], T]) -> T:
    """Run ``operation`` on a fresh connection; once more with full type sniffing if it needs it."""
    for full_sniff in (False, True):
        con = connect()
        try:
            return operation(Reader(con, full_sniff=full_sniff))
        except _TypeGuessMissed:
            continue
        finally:
            con.close()
    raise AssertionError("unreachable: a full sniff never asks for another")  # pragma: no cover


def _check_not_empty(table: Table) -> None:
    try:
        if table.fmt.endswith(".gz"):
            with gzip.open(table.path, "rb") as gz:
                head = gz.read(4096)
        else:
            with open(table.path, "rb") as f:
                head = f.read(4096)
    except FileNotFoundError:
        raise InvalidInput(f"{table.label}: file not found ({table.path})") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise InvalidInput(f"{table.label}: cannot read as {table.fmt}: {exc}") from None
    if not head.strip():
        raise InvalidInput(f"{table.label}: file is empty")


def _explain(message: str, table: Table) -> str:
    if table.is_delimited and "Error when sniffing file" in message:
        ragged = _find_ragged_line(table)
        if ragged:
            return ragged
        return "could not detect its layout (quoting, columns); is it really " + table.fmt + "?"
    return _summary(message, [table])


def _summary(message: str, tables: list[Table]) -> str:
    """The first paragraph of a DuckDB error, without its advice, on one line, paths as labels."""
    lines: list[str] = []
    for raw in message.splitlines():
        line = raw.strip()
        if not line:
            if lines:
                break
            continue
        if line.startswith(("Possible fixes", "Possible solutions", "LINE ")):
            break
        lines.append(line[:200])
    text = "; ".join(lines)
    for prefix in ("Invalid Input Error: ", "Conversion Error: ", "IO Error: "):
        text = text.removeprefix(prefix)
    for table in tables:
        text = text.replace(table.path, table.label)
    return text


def _find_ragged_line(table: Table) -> str | None:
    """Where a CSV first has a different number of fields than its header, if we can see it.

    DuckDB's sniffer reports a ragged row within its sample only as "could not detect the
    dialect"; the user needs the line number instead.
    """
    delimiter = "\t" if table.fmt.startswith("tsv") else ","
    try:
        with _open_text(table) as text:
            reader = csv.reader(text, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                return None
            for row in reader:
                if row and len(row) != len(header):
                    return (
                        f"line {reader.line_num} has {_fields(len(row))}, "
                        f"the header has {_fields(len(header))}"
                    )
                if reader.line_num > _RAGGED_SCAN_LIMIT:
                    return None
    except (csv.Error, OSError, EOFError, UnicodeError):
        return None
    return None


def _open_text(table: Table) -> io.TextIOWrapper:
    binary: io.BufferedIOBase
    binary = gzip.open(table.path, "rb") if table.fmt.endswith(".gz") else open(table.path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")


def _fields(n: int) -> str:
    return f"{n} field" if n == 1 else f"{n} fields"
