"""One answer per client-given request id, across every process serving the ledger.

A serving process claims a request's id before its answer leaves; the claim is a row whose
primary key is the id, so of two processes answering the same id only one inserts it and the
other refuses (HTTP 409). Claims of concurrent requests share one transaction (one thread takes
whatever has queued while the previous transaction ran). A PostgreSQL ledger holds them in its
``request_claims`` table, shared by replicas on any machine, in short transactions that never take
the ledger's write lock; a SQLite ledger, in a SQLite file of their own beside the ledger's
(``ledger.db.claims``), because a SQLite file has one writer and a claim must not wait behind
the inference log's writes (or behind anyone holding the ledger's write lock).

An id logged before (by ``predictions import``, the API, or an older server) is refused too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from modelledger.core.clock import format_time
from modelledger.core.errors import MledgerError
from modelledger.ledger.home import Ledger


class ClaimsUnavailable(MledgerError):
    """No claim could be made (the store is down): the request is refused (HTTP 503), since
    answering could give a second answer to one request id."""


class ClaimStore(Protocol):
    def claim(
        self, groups: Sequence[Sequence[str]], env: str, at: str, by: str
    ) -> list[str | None]:
        """In one transaction: each group's ids claimed all together (None), or none of them
        (the id of the group claimed already)."""
        ...

    def release(self, ids: Sequence[str]) -> None: ...

    def reclaim(self, ids: Sequence[str], env: str, at: str, by: str) -> None:
        """Claim ids whose answers were given (replayed from a journal), whoever holds them."""
        ...

    def close(self) -> None: ...


_CREATE = (
    "CREATE TABLE IF NOT EXISTS request_claims (request_id TEXT PRIMARY KEY, env TEXT NOT NULL,"
    " claimed_at TEXT NOT NULL, claimed_by TEXT NOT NULL) WITHOUT ROWID"
)


class FileClaims:
    """Claims in a SQLite file of their own (beside a SQLite ledger's serving journal)."""

    def __init__(self, path: Path, ledger_file: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            path, timeout=60, isolation_level=None, check_same_thread=False, uri=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a claim survives any process's crash, not a power cut; what a power cut can
        # take is claims whose answers are in a journal, fsynced after the claim, and a journal
        # is replayed only after its ids are claimed again (``reclaim``), before any new request
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_CREATE)
        # the ledger, read on a connection of its own (attached, it would join BEGIN IMMEDIATE
        # and wait for the ledger's writer): a WAL reader never waits
        self._ledger = sqlite3.connect(
            f"file:{ledger_file}?mode=ro", uri=True, timeout=60, check_same_thread=False
        )

    def claim(
        self, groups: Sequence[Sequence[str]], env: str, at: str, by: str
    ) -> list[str | None]:
        c = self._conn
        out: list[str | None] = []
        logged = _logged(self._ledger, [i for ids in groups for i in ids], "?")
        c.execute("BEGIN IMMEDIATE")
        try:
            for ids in groups:
                if found := next((i for i in ids if i in logged), None):
                    out.append(found)
                    continue
                c.execute("SAVEPOINT g")
                try:
                    c.executemany(
                        "INSERT INTO request_claims VALUES (?, ?, ?, ?)",
                        [(i, env, at, by) for i in ids],
                    )
                    c.execute("RELEASE g")
                    out.append(None)
                except sqlite3.IntegrityError:
                    c.execute("ROLLBACK TO g")
                    c.execute("RELEASE g")
                    out.append(_taken(c, ids, "?"))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return out

    def release(self, ids: Sequence[str]) -> None:
        self._conn.executemany(
            "DELETE FROM request_claims WHERE request_id = ?", [(i,) for i in ids]
        )

    def reclaim(self, ids: Sequence[str], env: str, at: str, by: str) -> None:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany(
                "INSERT OR IGNORE INTO request_claims VALUES (?, ?, ?, ?)",
                [(i, env, at, by) for i in ids],
            )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()
        self._ledger.close()


_DEADLOCK_RETRIES = 5


class LedgerClaims:
    """Claims in the ledger's own ``request_claims`` table (PostgreSQL)."""

    def __init__(self, ledger: Ledger) -> None:
        self._engine = ledger.db.engine

    def claim(
        self, groups: Sequence[Sequence[str]], env: str, at: str, by: str
    ) -> list[str | None]:
        from psycopg import errors

        for attempt in range(_DEADLOCK_RETRIES):
            try:
                return self._claim(groups, env, at, by)
            except errors.DeadlockDetected:  # two batches wanting overlapping groups of ids
                if attempt == _DEADLOCK_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _claim(
        self, groups: Sequence[Sequence[str]], env: str, at: str, by: str
    ) -> list[str | None]:
        # Rows are locked in id order in every transaction (groups by their least id, ids sorted
        # within each), so batches of single ids, the common case, never deadlock.
        order = sorted(range(len(groups)), key=lambda n: min(groups[n]))
        out: list[str | None] = [None] * len(groups)
        with self._engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            with conn.begin():
                cur = raw.cursor()
                logged = _logged(cur, [i for ids in groups for i in ids], "%s")
                for n in order:
                    ids = sorted(groups[n])
                    if found := next((i for i in ids if i in logged), None):
                        out[n] = found
                        continue
                    cur.execute("SAVEPOINT g")
                    cur.execute(
                        "INSERT INTO request_claims (request_id, env, claimed_at, claimed_by) "
                        "SELECT unnest(%s::text[]), %s, %s, %s ON CONFLICT DO NOTHING",
                        (ids, env, at, by),
                    )
                    if cur.rowcount == len(ids):
                        cur.execute("RELEASE SAVEPOINT g")
                    else:
                        cur.execute("ROLLBACK TO SAVEPOINT g")
                        out[n] = _taken(cur, groups[n], "%s")
                cur.close()
        return out

    def reclaim(self, ids: Sequence[str], env: str, at: str, by: str) -> None:
        from sqlalchemy import text

        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO request_claims (request_id, env, claimed_at, claimed_by) "
                    "SELECT unnest(CAST(:ids AS text[])), :env, :at, :by ON CONFLICT DO NOTHING"
                ),
                {"ids": list(ids), "env": env, "at": at, "by": by},
            )

    def release(self, ids: Sequence[str]) -> None:
        from sqlalchemy import text

        with self._engine.begin() as conn:
            conn.execute(
                text("DELETE FROM request_claims WHERE request_id = ANY(:ids)"), {"ids": list(ids)}
            )

    def close(self) -> None:
        pass


def store_for(ledger: Ledger) -> ClaimStore:
    """Where this ledger's claims live: beside a SQLite ledger's own file (so every process
    serving it, whatever its journal folder, shares them), or in PostgreSQL."""
    db = ledger.db
    if db.dialect == "sqlite":
        from sqlalchemy.engine import make_url

        ledger_file = Path(str(make_url(db.url).database))
        return FileClaims(ledger_file.with_name(ledger_file.name + ".claims"), str(ledger_file))
    return LedgerClaims(ledger)


class Claims:
    """Claims from many threads, batched: ``claim(ids)`` → a future of the first id that was
    answered before (None: all are now this process's to answer)."""

    def __init__(self, ledger: Ledger, env: str, store: ClaimStore) -> None:
        self.ledger, self.env, self.store = ledger, env, store
        self.by = f"{socket.gethostname()}:{os.getpid()}"
        self._cond = threading.Condition()
        self._pending: list[tuple[list[str], Future[str | None]]] = []
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"mledger-claims-{env}", daemon=True)
        self._thread.start()

    def claim(self, ids: list[str]) -> Future[str | None]:
        done: Future[str | None] = Future()
        with self._cond:
            if self._closing:
                done.set_exception(ClaimsUnavailable("the server is stopping"))
                return done
            self._pending.append((ids, done))
            self._cond.notify()
        return done

    def reclaim(self, ids: list[str]) -> None:
        self.store.reclaim(ids, self.env, _now(), self.by)

    def release(self, ids: list[str]) -> None:
        """Claims of requests that could not be answered after all (the journal refused)."""
        with contextlib.suppress(Exception):  # left claimed: a retry gets 409, never a 2nd answer
            self.store.release(ids)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                group, self._pending = self._pending, []
            self._settle(group)

    def _settle(self, group: list[tuple[list[str], Future[str | None]]]) -> None:
        results: list[str | None] = [None] * len(group)
        todo, seen = [], set()
        for n, (ids, _) in enumerate(group):
            taken = next((i for i in ids if i in seen), None)
            if taken is not None:  # asked for twice at once: the first asker has it
                results[n] = taken
            else:
                seen.update(ids)
                todo.append(n)
        try:
            won = self.store.claim([group[n][0] for n in todo], self.env, _now(), self.by)
        except Exception as exc:
            why = ClaimsUnavailable(
                f"request ids cannot be claimed: {' '.join(str(exc).split()) or type(exc).__name__}"
            )
            for _, done in group:
                done.set_exception(why)
            return
        for n, taken in zip(todo, won, strict=True):
            results[n] = taken
        for (_, done), result in zip(group, results, strict=True):
            done.set_result(result)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self.store.close()


def _taken(cur: Any, ids: Sequence[str], mark: str) -> str:
    """Which of ``ids`` is claimed already (the group's own duplicates aside, refused earlier)."""
    for request_id in ids:
        found = cur.execute(
            f"SELECT 1 FROM request_claims WHERE request_id = {mark}", (request_id,)
        )
        if (found if found is not None else cur).fetchone() is not None:
            return request_id
    return ids[0]


def _logged(cur: Any, ids: Sequence[str], mark: str) -> set[str]:
    """Which of ``ids`` the inference log holds already (logged by any path)."""
    found: set[str] = set()
    unique = sorted(set(ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ", ".join([mark] * len(chunk))
        res = cur.execute(
            f"SELECT DISTINCT request_id FROM predictions WHERE request_id IN ({marks})",
            chunk,
        )
        found.update(r[0] for r in (res if res is not None else cur).fetchall())
    return found


def _now() -> str:
    from datetime import UTC, datetime

    return format_time(datetime.now(UTC))
