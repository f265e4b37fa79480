"""A ledger the previous release wrote opens with this code, on SQLite and PostgreSQL.

The package was reorganised by capability in ea0c5d4: the Alembic migrations moved from
``modelledger/store/migrations`` to ``modelledger/ledger/migrations`` with their revision ids
unchanged; 0008 (search and labels) came after. These tests open ledgers that the release before
the move wrote and check that only 0008 is applied, adding its tables and changing nothing else,
everything reads back with the same ids, the hash chain verifies, and new writes chain onto the
old events.

How the fixtures were made (by a throwaway script, not kept in the repository): a checkout of
commit 3d89c005ae091d1d6312db9d5a1c7ca827d3de1c ("Review: a staged file removed after it was
read…", the last commit before the move) was put first on PYTHONPATH, with this project's venv
for the dependencies (Python 3.11.7, SQLAlchemy 2.1.9, Alembic 1.20.1, psycopg 3.3.9), and its
CLI was run as ``python -m modelledger.cli.app … --json`` in a fresh folder outside any git
repository:

1. ``init`` (for PostgreSQL ``init --db`` with a fresh schema's URL, as ``pg_schema_url`` builds
   it);
2. ``data snapshot train.csv --name tiny-train`` (a 4-row CSV ``x,y``) as alice;
3. ``model register tiny -a model-1.bin -d <ds>:train -p lr=0.1 -p depth=3 --seed 7
   --lock requirements.txt --code-ref git+https://example.invalid/tiny@0001`` as alice (the
   artifact is 16 bytes, the lock one line), then ``tiny@2`` likewise from ``model-2.bin`` with
   ``lr=0.05 depth=4 --parent tiny@1`` and code ref ``…@0002``; each registration also stored a
   training drift profile;
4. ``eval set create core eval.csv`` (2 rows) and ``eval record tiny@1 -e <es> -m auc=0.9``;
5. as carol, ``env policy production policy.yaml`` (that eval set, ``auc`` min 0.8) and
   ``promote tiny@1 --to production --approver bob``;
6. ``audit verify`` (ok, 10 events).

SQLite, ``fixtures/previous_release.db``: the resulting ``.mledger/ledger.db`` after
``PRAGMA wal_checkpoint(TRUNCATE)`` and ``PRAGMA journal_mode=DELETE`` (one file), then
``PRAGMA page_size=1024; VACUUM`` to keep it under 100 KB; every table's rows and the
``sqlite_master`` entries were compared equal before and after. ``fixtures/previous_release_blobs``
is that ledger's blob store, the eight non-empty objects only (the PostgreSQL run stored the
same eight: they are content-addressed and the inputs were the same).

PostgreSQL, ``fixtures/previous_release_pg.sql``: ``pg_dump --schema=<schema> --no-owner
--no-privileges --inserts`` (15.20) of the same steps run against a fresh schema of database
``test``, which was dropped afterwards; the schema's name is replaced by ``__MLEDGER_SCHEMA__``,
and its ``CREATE SCHEMA`` and psql's ``\\restrict``/``\\unrestrict`` lines are removed, so the
file runs through psycopg into the schema a test already has.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from modelledger.ledger.head import SCHEMA_HEAD
from modelledger.ledger.home import open_ledger
from modelledger.settings import Settings
from tests.conftest import PG_URL, jrun, write
from tests.people import promote_via_cli

FIXTURES = Path(__file__).parent / "fixtures"
SQLITE_FIXTURE = FIXTURES / "previous_release.db"
PG_FIXTURE = FIXTURES / "previous_release_pg.sql"
BLOBS_FIXTURE = FIXTURES / "previous_release_blobs"
PLACEHOLDER = "__MLEDGER_SCHEMA__"

OLD_REVISION = "0007"  # what the previous release's migrations left in alembic_version
TRAIN = "ds-bd177e46a0e34b53523659d72af3fb7030e1277318727c9787912e3b4655cd3d"
EVAL_SET = "ds-2f097647af790510342cfbf9c32f0aafa7e0ac5e6664783a8951bd13e5832005"
MV1 = "mv-7de7a6ac424e3a491f8da44f87bbe9dbb313f8a177eae196de7402085eb15467"
MV2 = "mv-164b99ba97109a2b736157a8e15d4077347dc364a200199f448e6d534307e6de"
EV1 = "ev-5079d86054a786c44102450ee995cd988366446714bae6a586a218d2bb369503"
POLICY = "c4a1d8e3dbf2e63fca48487650bb825b42c478a9485b21d3ccf42f7713a3e0b9"
ARTIFACTS = {
    MV1: "054af8a4a90d202e14b90853c9cd649e0cf6ad8f706d116dec22b659fad08780",
    MV2: "c50a83d171f0beca55ea7f543bf624ec8a87de3e7a4c08cc05a802a5d5532949",
}
OLD_KINDS = [
    "data.snapshot",
    "model.registered",
    "drift.profile",
    "model.registered",
    "drift.profile",
    "data.snapshot",
    "eval_set.created",
    "eval.recorded",
    "env.policy",
    "promotion",
]
# the chain heads differ by backend: the two runs were made at different times
OLD_HEAD = {
    "sqlite": "0c13827d57d125e09a89f9e4660c68176200add91d7b73f41037ba9c94fafa37",
    "postgres": "51126bafa8cad847f8f17a61587980e2690c3b4defec913cf4d132eda799d880",
}


def _load_pg_fixture(url: str) -> None:
    import psycopg

    schema = url.rsplit("search_path%3D", 1)[1]
    sql = PG_FIXTURE.read_text(encoding="utf-8")
    assert PLACEHOLDER in sql and schema not in sql
    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.replace(PLACEHOLDER, schema).encode())


def _stored_revision(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def _schema_fingerprint(url: str) -> dict[str, object]:
    """Tables, their columns, indexes and constraints as SQLAlchemy reflects them."""
    engine = create_engine(url)
    try:
        found = inspect(engine)
        return {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)
                ],
                "pk": found.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (fk["referred_table"], *fk["constrained_columns"])
                    for fk in found.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"] or "", *(str(c) for c in i["column_names"]), bool(i["unique"]))
                    for i in found.get_indexes(table)
                ),
            }
            for table in sorted(found.get_table_names())
        }
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def old_ledger(old_backend, project, request, monkeypatch):
    """``project/.mledger`` holding the previous release's ledger; returns its database URL."""
    home = project / ".mledger"
    home.mkdir()
    (home / ".gitignore").write_text("# the ledger is not source code\n*\n", encoding="utf-8")
    shutil.copytree(BLOBS_FIXTURE, home / "blobs")
    if old_backend == "sqlite":
        shutil.copyfile(SQLITE_FIXTURE, home / "ledger.db")
        url = f"sqlite:///{home / 'ledger.db'}"
    else:
        url = str(request.getfixturevalue("pg_schema_url"))
        _load_pg_fixture(url)
        (home / "config.json").write_text(json.dumps({"db_url": url}, indent=2) + "\n")
    return url


def test_fixtures_are_small_and_at_the_old_revision():
    assert SQLITE_FIXTURE.stat().st_size < 200_000
    assert PG_FIXTURE.stat().st_size < 200_000
    with closing(sqlite3.connect(f"file:{SQLITE_FIXTURE}?mode=ro", uri=True)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        revisions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert revisions == [(OLD_REVISION,)]
    assert f"INSERT INTO {PLACEHOLDER}.alembic_version VALUES ('{OLD_REVISION}');" in (
        PG_FIXTURE.read_text(encoding="utf-8")
    )


NEW_TABLES = {
    "version_params",
    "eval_metrics",
    "version_tags",
    "version_descriptions",
    "request_claims",
}
NEW_INDEXES = {
    "model_versions": {
        ("ix_model_versions_created_at", "created_at", "id", False),
        ("ix_model_versions_name_created_at", "name", "created_at", "id", False),
    },
    "version_data": {("ix_version_data_snapshot_version", "snapshot_id", "version_id", False)},
}
GONE_INDEXES = {"version_data": {("ix_version_data_snapshot_id", "snapshot_id", False)}}


def test_old_ledger_migrates_to_head_adding_only_the_search_tables(old_ledger, project):
    """0008 (search and labels) and 0009 (SQLite triggers refusing REPLACE) came after the
    previous release: opening its ledger migrates it once, adds the new tables, three indexes (one replacing a narrower one), changes nothing else, and fills the search
    index from the rows already there."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "modelledger.ledger:migrations")
    script = ScriptDirectory.from_config(cfg)
    stored = _stored_revision(old_ledger)
    assert stored == OLD_REVISION and script.get_revision(stored) is not None
    assert [r.revision for r in script.iterate_revisions("head", stored)] == [
        "0011",
        "0010",
        "0009",
        "0008",
    ]

    before = _schema_fingerprint(old_ledger)
    led = open_ledger(Settings(home=project / ".mledger", db_url=old_ledger))
    try:
        assert led.db.schema_revision() == SCHEMA_HEAD
        with led.db.read() as conn:
            params = conn.execute(
                text("SELECT version_id, key, text, num FROM version_params ORDER BY 1, 2")
            ).all()
            metrics = conn.execute(
                text("SELECT result_id, metric, eval_set_id, subject_id, value FROM eval_metrics")
            ).all()
    finally:
        led.close()
    after = _schema_fingerprint(old_ledger)
    assert _stored_revision(old_ledger) == SCHEMA_HEAD
    assert set(after) - set(before) == NEW_TABLES
    for table, added in NEW_INDEXES.items():
        grown, was = after[table], before[table]
        now, then = set(grown.pop("indexes")), set(was.pop("indexes"))
        assert now - then == added and then - now == GONE_INDEXES.get(table, set()), table
    # 0010: each logged prediction names the event of its batch
    bound = after["predictions"]["columns"].pop()
    assert bound[0] == "event_seq" and bound[2] is True
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(params) == sorted(
        [
            (MV1, "depth", "3", 3.0),
            (MV1, "lr", "0.1", 0.1),
            (MV2, "depth", "4", 4.0),
            (MV2, "lr", "0.05", 0.05),
        ]
    )
    assert metrics == [(EV1, "auc", EVAL_SET, MV1, 0.9)]


def test_old_ledger_reads_back_verifies_and_takes_new_writes(
    old_ledger, old_backend, cli, project, monkeypatch
):
    # reads: the same versions, ids, lineage and pointers the previous release wrote
    listed = jrun(cli, "model", "list")  # the first command migrates it
    schema_before = _schema_fingerprint(old_ledger)
    assert [(v["id"], v["label"]) for v in listed] == [(MV2, "tiny@2"), (MV1, "tiny@1")]
    shown = {ref: jrun(cli, "model", "show", ref) for ref in ("tiny@1", "tiny@2")}
    assert shown["tiny@1"]["id"] == MV1 and shown["tiny@2"]["id"] == MV2
    assert jrun(cli, "model", "show", MV1[:12])["id"] == MV1  # prefix lookup
    for label, params, parent in (
        ("tiny@1", {"lr": 0.1, "depth": 3}, None),
        ("tiny@2", {"lr": 0.05, "depth": 4}, MV1),
    ):
        tup = shown[label]["tuple"]
        assert tup["params"] == params and tup["seed"] == 7 and tup["parent"] == parent
        assert tup["data"] == [{"id": TRAIN, "role": "train"}]
        assert tup["artifact"]["sha256"] == ARTIFACTS[shown[label]["id"]]
        assert shown[label]["registered_by"] == "alice"
        assert shown[label]["reproducibility"]["status"] == "reproducible"
    for ref in (MV1, MV2):
        assert jrun(cli, "model", "verify", ref)["ok"] is True  # old blobs re-hash
    assert {s["id"] for s in jrun(cli, "data", "list")} == {TRAIN, EVAL_SET}
    env = jrun(cli, "env", "show", "production")
    assert (env["id"], env["policy_sha256"], env["approved_by"]) == (MV1, POLICY, ["bob"])

    # the migration bound the rows already there with one event on top of the old chain
    check = jrun(cli, "audit", "verify")
    assert check["ok"] is True and check["damage"] == [] and check["events"] == 11
    logged = jrun(cli, "audit", "log", "--limit", "100")
    old_events, bound = logged[:10], logged[10]
    assert [e["kind"] for e in old_events] == OLD_KINDS
    assert old_events[-1]["hash"] == OLD_HEAD[old_backend]
    assert bound["kind"] == "ledger.bound" and bound["prev_hash"] == OLD_HEAD[old_backend]
    assert check["head"] == bound["hash"]
    assert bound["payload"]["tables"]["model_versions"]["rows"] == 2

    # writes: a new version on top of the old ones, scored on the old eval set, promoted
    # through the old environment's policy past the old live version
    monkeypatch.setenv("MLEDGER_USER", "dave")
    art = write(project / "model-3.bin", b"tiny weights v3\n")
    lock = write(project / "requirements.txt", "numpy==1.26.4\n")
    new = jrun(
        cli,
        "model",
        "register",
        "tiny",
        "-a",
        str(art),
        "-d",
        f"{TRAIN}:train",
        "-p",
        "lr=0.02",
        "-p",
        "depth=5",
        "--seed",
        "7",
        "--parent",
        "tiny@2",
        "--lock",
        str(lock),
        "--code-ref",
        "git+https://example.invalid/tiny@0003",
    )
    assert new["created"] and new["label"] == "tiny@3" and new["number"] == 3
    assert new["id"].startswith("mv-") and new["id"] not in (MV1, MV2)
    assert new["tuple"]["parent"] == MV2
    recorded = jrun(cli, "eval", "record", "tiny@3", "-e", EVAL_SET, "-m", "auc=0.92")
    assert recorded["subject"] == new["id"] and recorded["id"] != EV1
    monkeypatch.setenv("MLEDGER_USER", "carol")
    done = promote_via_cli(cli, project, "tiny@3", "production", approvers=("bob",))
    assert done["id"] == new["id"] and done["previous"] == MV1
    assert (done["requester"], done["approvers"]) == ("carol", ["bob"])
    assert done["policy_sha256"] == POLICY and done["gate"]["eval_set"] == EVAL_SET
    assert jrun(cli, "env", "show", "production")["id"] == new["id"]

    # the chain: old events untouched, the first new one linked to the old head, all verified
    events = jrun(cli, "audit", "log", "--limit", "100")
    assert events[:11] == [*old_events, bound]
    added = events[11:]
    kinds = [e["kind"] for e in added]
    assert kinds[0] == "model.registered" and kinds[-1] == "promotion"
    assert added[0]["seq"] == 12 and added[0]["prev_hash"] == bound["hash"]
    assert added[0]["subject"] == new["id"]
    for prev, ev in itertools.pairwise(events):
        assert ev["seq"] == prev["seq"] + 1 and ev["prev_hash"] == prev["hash"]
    check = jrun(cli, "audit", "verify")
    assert check["ok"] is True and check["damage"] == []
    assert check["events"] == len(events) and check["head"] == events[-1]["hash"]

    listed = jrun(cli, "model", "list", "tiny")
    assert [v["id"] for v in listed] == [new["id"], MV2, MV1]
    assert jrun(cli, "model", "show", "tiny@1") == shown["tiny@1"]
    assert jrun(cli, "model", "show", "tiny@2") == shown["tiny@2"]
    assert _stored_revision(old_ledger) == SCHEMA_HEAD
    assert _schema_fingerprint(old_ledger) == schema_before
