"""Statements compiled once per dialect and run on the driver's own cursor.

A registration runs about a dozen statements. SQLAlchemy's per-execute bookkeeping (execution
context, parameter processing, result wrapping, events) costs several times what the driver
itself does, a large share of a whole registration (benchmarks/bench_register.py). The
statements stay SQLAlchemy Core expressions over the one schema, so the SQL is written once for
both backends; only their execution is short-cut.

For statements over plain columns only (strings, integers, and floats bound as Python floats):
compiling one whose parameters or results would need SQLAlchemy's type processing fails, so a
new column type cannot slip through unconverted. Driver errors are raised as SQLAlchemy's
``DBAPIError`` so ``Database``'s scope translates them as it does every other error (a
trigger's refusal, a unique constraint).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect, processors
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from modelledger.ledger.binding import bind


class _Compiled:
    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) or None)
        assert isinstance(compiled, SQLCompiler)
        if any(p is not processors.to_float for p in compiled._bind_processors.values()):
            raise TypeError(f"parameters need type processing: {compiled}")
        for column in compiled._result_columns:
            if column[3].result_processor(dialect, None) is not None:
                raise TypeError(f"result column {column[0]} needs type processing: {compiled}")
        self.sql = str(compiled)
        self.defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self.order = compiled.positiontup if compiled.positional else None
        self.errors = dialect.loaded_dbapi.Error

    def params(self, given: Mapping[str, Any]) -> Any:
        merged = {**self.defaults, **given} if self.defaults else given
        if self.order is None:
            return merged
        return tuple(merged[name] for name in self.order)


class Prepared:
    """One statement; ``run``/``first``/``scalar`` execute it inside ``conn``'s transaction.
    An insert is compiled for the columns its parameters set."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._insert = bool(getattr(statement, "is_insert", False))
        # an insert's rows are bound to the transaction's next event (ledger/binding.py)
        self._table = statement.table.name if self._insert else None  # type: ignore[attr-defined]
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def _for(self, conn: Connection, params: Mapping[str, Any]) -> _Compiled:
        key = (conn.dialect.name, tuple(params) if self._insert else ())
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = _Compiled(self.statement, conn.dialect, key[1])
        return found

    def _execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        compiled = self._for(conn, params)
        return _call(conn, compiled, "execute", compiled.params(params))

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> None:
        self._execute(conn, params or {}).close()
        if self._table is not None:
            bind(conn, self._table, [params or {}])

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """An insert of several rows, all setting the same columns."""
        if rows:
            compiled = self._for(conn, rows[0])
            args = [compiled.params(row) for row in rows]
            _call(conn, compiled, "executemany", args).close()
            if self._table is not None:
                bind(conn, self._table, rows)

    def first(
        self, conn: Connection, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The first row, column name → value; None when there is none."""
        cursor = self._execute(conn, params or {})
        try:
            row = cursor.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in cursor.description], row, strict=True))
        finally:
            cursor.close()

    def scalar(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row; None when there is none."""
        cursor = self._execute(conn, params or {})
        try:
            row = cursor.fetchone()
            return None if row is None else row[0]
        finally:
            cursor.close()


def _call(conn: Connection, compiled: _Compiled, method: str, args: Any) -> Any:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        getattr(cursor, method)(compiled.sql, args)
    except compiled.errors as exc:
        cursor.close()
        raise DBAPIError.instance(compiled.sql, args, exc, compiled.errors) from exc
    return cursor
