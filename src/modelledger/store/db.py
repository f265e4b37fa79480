"""One engine per ledger and one transactional scope that speaks our exceptions.

Writes are serialised: SQLite takes its write lock up front (``BEGIN IMMEDIATE``: a deferred
transaction that later upgrades cannot be retried by ``busy_timeout``), PostgreSQL takes a
transaction-scoped advisory lock per schema. The event chain and per-model version numbers need
a single writer at a time; registry writes are rare enough that this costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from modelledger.domain.errors import Conflict, ImmutableRecord, NoLedger, StoreUnavailable
from modelledger.store.head import SCHEMA_HEAD
from modelledger.store.triggers import IMMUTABLE_MESSAGE

_WRITE = "mledger_write"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name

    @contextmanager
    def _scope(self, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_WRITE: write})
                with conn.begin():
                    if write and self.dialect == "postgresql":
                        conn.execute(
                            text(
                                "SELECT pg_advisory_xact_lock(hashtext('mledger:' || current_schema()))"
                            )
                        )
                    yield conn
        except DBAPIError as exc:
            raise translate(exc) from exc

    def write(self) -> Any:
        """A transaction that holds the ledger's write lock until it commits or rolls back."""
        return self._scope(write=True)

    def read(self) -> Any:
        return self._scope(write=False)

    def schema_revision(self) -> str | None:
        """The applied migration, or None for an empty database."""
        try:
            with self.read() as conn:
                found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                return str(found) if found is not None else None
        except StoreUnavailable as exc:
            if "alembic_version" in str(exc):
                return None
            raise

    def ensure_schema(self) -> None:
        """Fail clearly on an uninitialised database; bring an older one up to date."""
        revision = self.schema_revision()
        if revision is None:
            raise NoLedger(
                f"the database at {safe_url(self.url)} holds no ledger: run `mledger init`"
            )
        if revision != SCHEMA_HEAD:
            self.migrate()

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", "modelledger.store:migrations")
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except DBAPIError as exc:
            raise translate(exc) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def translate(exc: DBAPIError) -> Exception:
    message = str(exc.orig) if exc.orig is not None else str(exc)
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    if IMMUTABLE_MESSAGE in message:
        return ImmutableRecord(first_line)
    if isinstance(exc, IntegrityError):
        return Conflict(f"the ledger refused the write: {first_line}")
    if isinstance(exc, OperationalError | ProgrammingError):
        return StoreUnavailable(f"database error: {first_line}")
    return StoreUnavailable(f"database error: {first_line}")


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
