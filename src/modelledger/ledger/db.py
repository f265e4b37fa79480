"""One engine per ledger and one transactional scope that speaks our exceptions.

Writes are serialised: SQLite takes its write lock up front (``BEGIN IMMEDIATE``: a deferred
transaction that later upgrades cannot be retried by ``busy_timeout``), PostgreSQL takes a
transaction-scoped advisory lock per schema. The event chain and per-model version numbers need
a single writer at a time; registry writes are rare enough that this costs nothing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from modelledger.core.errors import Conflict, ImmutableRecord, NoLedger, StoreUnavailable
from modelledger.ledger.binding import unclaimed
from modelledger.ledger.head import SCHEMA_HEAD
from modelledger.ledger.triggers import IMMUTABLE_MESSAGE

_WRITE = "mledger_write"
_AUTOCHECKPOINT = 1000  # SQLite's default, in pages


class Checkpointer:
    """Copies a SQLite WAL back into the database on a thread of its own (``PRAGMA
    wal_checkpoint(PASSIVE)`` on its own connection; SQLite runs it without the GIL, beside the
    writer). A bulk write hands its checkpoint here instead of doing it inside its commit, where
    it was a tenth of an inference-log ingest. Requests made while one runs are coalesced."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        with self._lock:
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mledger-checkpoint", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    return
                self._wanted = False
            try:
                with self._engine.connect() as conn:
                    raw = conn.connection.driver_connection
                    assert isinstance(raw, sqlite3.Connection)
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except (sqlite3.Error, DBAPIError):  # the next ordinary commit checkpoints then
                pass

    def wait(self) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: in WAL mode NORMAL leaves the last commits in an unsynced WAL, lost with the
            # power; a call that returned must have its record on disk
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            # on the driver: SQLAlchemy's execute path is a measurable share of a registration
            driver = conn.connection.driver_connection
            assert driver is not None
            statement = "BEGIN IMMEDIATE" if write else "BEGIN"
            try:
                driver.execute(statement).close()
            except sqlite3.Error as exc:  # e.g. still locked when busy_timeout runs out
                raise DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc

        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._checkpointer = Checkpointer(self.engine) if self.dialect == "sqlite" else None

    @contextmanager
    def _scope(
        self, write: bool, bulk: bool = False, consistent: bool = False
    ) -> Iterator[Connection]:
        deferred = bulk and self._checkpointer is not None
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_WRITE: write})
                raw = conn.connection.driver_connection if deferred else None
                if raw is not None:
                    raw.execute("PRAGMA wal_autocheckpoint=0")
                try:
                    with conn.begin():
                        if consistent and self.dialect == "postgresql":
                            # every statement sees one snapshot (SQLite's read transaction does)
                            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                        if write and self.dialect == "postgresql":
                            conn.execute(
                                text(
                                    "SELECT pg_advisory_xact_lock("
                                    "hashtext('mledger:' || current_schema()))"
                                )
                            )
                        yield conn
                        if write and (loose := unclaimed(conn)):
                            raise RuntimeError(f"rows written to {loose} after the last event")
                finally:
                    if raw is not None:
                        raw.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT}")
            if deferred:
                assert self._checkpointer is not None
                self._checkpointer.request()
        except DBAPIError as exc:
            raise translate(exc) from exc

    def write(self, *, bulk: bool = False) -> Any:
        """A transaction that holds the ledger's write lock until it commits or rolls back.
        ``bulk``: many rows at once (the inference log); on SQLite its commit leaves copying the
        WAL into the database to a background checkpoint."""
        return self._scope(write=True, bulk=bulk)

    def read(self, *, consistent: bool = False) -> Any:
        """A read transaction; ``consistent``: one snapshot for all its statements on
        PostgreSQL too, whose default gives each statement its own."""
        return self._scope(write=False, consistent=consistent)

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
        cfg.set_main_option("script_location", "modelledger.ledger:migrations")
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except DBAPIError as exc:
            raise translate(exc) from exc

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.wait()
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
