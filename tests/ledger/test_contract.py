"""The store contract, run on SQLite and on PostgreSQL alike."""

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from modelledger.core.errors import Conflict, ImmutableRecord
from modelledger.ledger import audit
from modelledger.ledger import db as store_db
from modelledger.ledger.schema import metadata
from modelledger.models.register import RegisterRequest, register
from tests.conftest import alter_event, write

ROOT = Path(__file__).resolve().parents[2]


def test_schema_head_constant_matches_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "modelledger.ledger:migrations")
    assert ScriptDirectory.from_config(cfg).get_current_head() == store_db.SCHEMA_HEAD


def _register(ledger, project, **kw):
    artifact = write(project / "model.bin", kw.pop("content", b"weights"))
    req = RegisterRequest(
        name=kw.pop("name", "delay"), artifact=artifact, code_ref="train@abc", **kw
    )
    return register(ledger, req).version


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE model_versions SET registered_by = 'mallory'",
        "DELETE FROM model_versions",
        "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events",
        "UPDATE card_revisions SET author = 'mallory'",
        "DELETE FROM version_data",
        "UPDATE snapshots SET name = 'renamed'",
    ],
)
def test_append_only_rows_refuse_raw_update_and_delete(ledger, project, statement):
    from modelledger.data.snapshot import SnapshotRequest, snapshot

    snap = snapshot(
        ledger, SnapshotRequest([write(project / "train.csv", "a,b\n1,2\n")], "train")
    ).snapshot
    _register(ledger, project, card={"intended_use": "x"}, data=[snap.id])
    with pytest.raises(ImmutableRecord, match="immutable"), ledger.db.write() as conn:
        conn.execute(text(statement))
    with ledger.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM model_versions")).scalar() == 1
        assert conn.execute(text("SELECT registered_by FROM model_versions")).scalar() == "alice"


def test_tampering_behind_the_triggers_back_is_caught_by_verify(ledger, project):
    for i in range(5):
        _register(ledger, project, params={"i": i})
    assert audit.verify(ledger).ok
    alter_event(ledger, 3, "payload_json", '{"forged":true}')
    check = audit.verify(ledger)
    assert not check.ok
    assert check.broken.seq == 3 and check.checked == 2


def test_appends_in_one_transaction_and_after_a_rolled_back_one_keep_the_chain(ledger):
    from modelledger.ledger import events

    with ledger.db.write() as conn:
        for i in range(3):
            events.append(conn, "data.card", f"s{i}", "alice", "2026-11-25T00:00:00Z", {"i": i})
    with pytest.raises(RuntimeError), ledger.db.write() as conn:
        events.append(conn, "data.card", "gone", "alice", "2026-11-25T00:00:00Z", {})
        raise RuntimeError("roll back")
    with ledger.db.write() as conn:  # very likely the same pooled connection as the rolled-back one
        appended = events.append(conn, "data.card", "s3", "alice", "2026-11-25T00:00:00Z", {})
    assert appended.seq == 4
    check = audit.verify(ledger)
    assert check.ok and check.checked == 4


def test_unknown_database_says_run_init(tmp_path):
    from modelledger.core.errors import NoLedger

    db = store_db.Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(NoLedger, match="mledger init"):
        db.ensure_schema()


def test_concurrent_registration_numbers_without_gaps(ledger, project, db_url):
    """8 processes × 100 versions of one model: 800 versions numbered 1..800, no errors."""
    artifact = write(project / "shared.bin", b"same bytes, different params")
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.ledger.concurrent_worker",
                str(ledger.config.home),
                db_url or "",
                str(w),
                "100",
                str(artifact),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(8)
    ]
    for proc in workers:
        _out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
    with ledger.db.read() as conn:
        numbers = sorted(
            conn.execute(text("SELECT number FROM model_versions WHERE name = 'nightly'")).scalars()
        )
    assert numbers == list(range(1, 801))
    check = audit.verify(ledger)
    assert check.ok and check.checked == 800


def test_a_bulk_write_commits_and_leaves_its_checkpoint_to_the_background(ledger, backend):
    """The inference log's bulk writes: committed and readable at once on both backends. On
    SQLite the commit doesn't copy the WAL back itself; the background checkpoint does (the
    database file, read without its WAL, has the rows), and the connection's autocheckpoint is
    back to SQLite's default for the next transaction."""
    with ledger.db.write(bulk=True) as conn:
        conn.execute(text("CREATE TABLE bulk_probe (n INTEGER)"))
        conn.execute(text("INSERT INTO bulk_probe VALUES (1), (2), (3)"))
    with ledger.db.read() as conn:
        assert conn.execute(text("SELECT sum(n) FROM bulk_probe")).scalar() == 6
        if backend == "sqlite":
            raw = conn.connection.driver_connection
            assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    if backend == "sqlite":
        import sqlite3

        ledger.db._checkpointer.wait()
        main_file = sqlite3.connect(f"file:{ledger.db.engine.url.database}?immutable=1", uri=True)
        try:
            assert main_file.execute("SELECT sum(n) FROM bulk_probe").fetchone()[0] == 6
        finally:
            main_file.close()


def test_a_failed_bulk_write_rolls_back_and_restores_the_autocheckpoint(ledger, backend):
    from sqlalchemy import inspect

    with pytest.raises(RuntimeError), ledger.db.write(bulk=True) as conn:
        conn.execute(text("CREATE TABLE bulk_probe (n INTEGER)"))
        raise RuntimeError("boom")
    with ledger.db.read() as conn:
        assert not inspect(conn).has_table("bulk_probe")
        if backend == "sqlite":
            raw = conn.connection.driver_connection
            assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000


def test_a_sqlite_write_that_cannot_get_the_lock_fails_as_our_error_and_writes_nothing(
    tmp_path,
):
    """SQLite's BEGIN IMMEDIATE runs on the driver; when another writer holds the lock past
    busy_timeout, the caller still gets StoreUnavailable, not a raw sqlite3 error."""
    import sqlite3

    from modelledger.core.errors import StoreUnavailable

    db = store_db.Database(f"sqlite:///{tmp_path / 'ledger.db'}")
    with db.engine.connect() as conn:  # the pooled connection the write below reuses
        conn.connection.driver_connection.execute("PRAGMA busy_timeout=50")
    holder = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"), db.write() as conn:
            conn.execute(text("CREATE TABLE never (n INTEGER)"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar() == 0
    db.dispose()


REWRITES = {
    "sqlite": [
        "INSERT OR REPLACE INTO {t} SELECT * FROM {t}",
        "REPLACE INTO {t} SELECT * FROM {t}",
        "INSERT OR IGNORE INTO {t} SELECT * FROM {t}",
    ],
    "postgresql": [
        "INSERT INTO {t} SELECT * FROM {t} ON CONFLICT ({key}) DO UPDATE SET {col} = EXCLUDED.{col}"
    ],
}


def test_append_only_rows_refuse_replace_and_upsert(ledger, project):
    """A REPLACE's implicit delete fires no DELETE trigger: without a guard of its own it would
    rewrite a version in place. Every append-only table that holds rows here is tried."""
    from modelledger.data.snapshot import SnapshotRequest, snapshot

    snap = snapshot(
        ledger, SnapshotRequest([write(project / "train.csv", "a,b\n1,2\n")], "train")
    ).snapshot
    _register(ledger, project, card={"intended_use": "x"}, data=[snap.id], params={"lr": 0.1})
    tables = [
        "model_versions",
        "version_data",
        "version_params",
        "snapshots",
        "events",
        "card_revisions",
    ]
    with ledger.db.read() as conn:
        before = {t: conn.execute(text(f"SELECT * FROM {t}")).all() for t in tables}
        keys = {t: [c.name for c in metadata.tables[t].primary_key.columns] for t in tables}
    assert all(before.values())
    for table in tables:
        cols = [c.name for c in metadata.tables[table].c if c.name not in keys[table]]
        for statement in REWRITES[ledger.db.dialect]:
            col = (cols or keys[table])[0]
            sql = statement.format(t=table, key=", ".join(keys[table]), col=col)
            refused = (ImmutableRecord, Conflict)  # a trigger, or the guard of a unique key
            with (
                pytest.raises(refused, match=r"immutable|never replaced"),
                ledger.db.write() as conn,
            ):
                conn.execute(text(sql))
    with ledger.db.read() as conn:
        assert {t: conn.execute(text(f"SELECT * FROM {t}")).all() for t in tables} == before


def test_every_append_only_table_has_its_replace_guard(ledger):
    if ledger.db.dialect != "sqlite":
        return  # PostgreSQL: ON CONFLICT DO UPDATE fires the BEFORE UPDATE trigger
    with ledger.db.read() as conn:
        names = set(
            conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars()
        )
    guarded = {n.removesuffix("_no_update") for n in names if n.endswith("_no_update")}
    guarded -= {"predictions"}  # per-row triggers would halve ingest (migration 0009)
    assert len(guarded) >= 15
    assert {f"{t}_no_replace" for t in guarded} <= names
