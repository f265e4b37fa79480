"""Acknowledged means durable (issue 18, item 6): a SQLite commit that returned is in a synced
WAL. With ``synchronous=NORMAL`` a WAL commit is only written, not synced, so a power cut lost
every registration since the last checkpoint; FULL syncs the WAL at each commit."""

from __future__ import annotations

from sqlalchemy import text


def test_every_sqlite_connection_syncs_each_commit(ledger, backend):
    if backend != "sqlite":
        return  # PostgreSQL: synchronous_commit is the server's, on by default
    with ledger.db.write() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    with ledger.db.read() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2


def test_postgres_commits_are_synchronous(ledger, backend):
    if backend != "postgres":
        return
    with ledger.db.read() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar() in ("on", "remote_apply")
