"""The tamper suite (issue 18): a ledger with every kind of record, damaged one way at a time by
someone who can write to the database with its triggers out of the way, on SQLite and on
PostgreSQL. ``audit verify`` must name each damage, and the untouched ledger must verify clean.
(The blob store's own tampering is in tests/blobs/test_tamper_store.py, found by ``fsck``.)"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from modelledger.core.canonical import canonical_json
from modelledger.core.events import Link, new_event
from tests.ledger.tamper_kit import Copy

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _recompute_chain(copy: Copy, change: Callable[[dict], None]) -> None:
    """Rewrite history the thorough way: change an event, then recompute every hash after it so
    the chain links up again (what only a checkpoint kept elsewhere can catch)."""
    mark = "?" if copy.backend == "sqlite" else "%s"
    with copy.sql() as conn:
        rows = conn.execute(  # type: ignore[attr-defined]
            "SELECT seq, kind, subject, actor, at, payload_json FROM events ORDER BY seq"
        ).fetchall()
        prev = None
        for seq, kind, subject, actor, at, payload_json in rows:
            event = {"kind": kind, "subject": subject, "actor": actor, "at": at,
                     "payload": json.loads(payload_json)}  # fmt: skip
            if seq == 2:
                change(event)
            ev = new_event(prev, event["kind"], event["subject"], event["actor"], event["at"],
                           event["payload"])  # fmt: skip
            conn.execute(  # type: ignore[attr-defined]
                f"UPDATE events SET payload_json = {mark}, prev_hash = {mark}, hash = {mark} "
                f"WHERE seq = {mark}",
                (canonical_json(ev.payload).decode(), ev.prev_hash, ev.hash, seq),
            )
            prev = Link(ev.seq, ev.hash)


def _replace_version(copy: Copy) -> None:
    """Rewrite a version in place without deleting anything: SQLite's INSERT OR REPLACE, an
    upsert on PostgreSQL."""
    cols = ("id, name, number, tuple_json, artifact_sha256, parent_id, created_at, "
            "registered_by, loader, irreproducible_reason, manifest_json")  # fmt: skip
    pick = cols.replace("loader", "'python:evil:load'")
    if copy.backend == "sqlite":
        copy.execute(
            f"INSERT OR REPLACE INTO model_versions ({cols}) "
            f"SELECT {pick} FROM model_versions WHERE number = 1"
        )
    else:
        copy.execute(
            f"INSERT INTO model_versions ({cols}) SELECT {pick} FROM model_versions "
            "WHERE number = 1 ON CONFLICT (id) DO UPDATE SET loader = EXCLUDED.loader"
        )


def _forged_version(copy: Copy) -> None:
    copy.execute(
        "INSERT INTO model_versions (id, name, number, tuple_json, artifact_sha256, parent_id, "
        "created_at, registered_by, loader, irreproducible_reason, manifest_json) "
        "SELECT 'mv-0000' || substr(id, 8), name, 99, tuple_json, artifact_sha256, parent_id, "
        "created_at, registered_by, loader, irreproducible_reason, manifest_json "
        "FROM model_versions WHERE number = 1"
    )


def _wrong_key(copy: Copy) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from modelledger.core import checkpoint as cp

    doc = json.loads(copy.checkpoint.read_text())
    stranger = Ed25519PrivateKey.generate()
    statement = cp.Checkpoint(**{k: v for k, v in doc["checkpoint"].items() if k != "format"})
    forged = cp.Checkpoint(**{**statement.__dict__, "key": cp.public_key_text(stranger)})
    copy.checkpoint.write_text(json.dumps(cp.sign(forged, stranger)))


SQL = str | Callable[[Copy], None]

# (name, the damage, the kinds of damage audit verify must name)
CASES: list[tuple[str, list[SQL], set[str]]] = [
    (
        "version params edited",
        [
            "UPDATE model_versions SET tuple_json = replace(tuple_json, '\"lr\":0.1', '\"lr\":0.5') "
            "WHERE number = 1"
        ],
        {"row-changed", "id-mismatch"},
    ),
    (
        "version loader edited",
        ["UPDATE model_versions SET loader = 'python:evil:load' WHERE number = 2"],
        {"row-changed"},
    ),
    (
        "artifact sha edited",
        ["UPDATE model_versions SET artifact_sha256 = '" + "0" * 64 + "' WHERE number = 2"],
        {"row-changed"},
    ),
    ("version replaced in place", [_replace_version], {"row-changed"}),
    ("version forged", [_forged_version], {"row-unbound", "id-mismatch"}),
    (
        "hyperparameter index row deleted",
        ["DELETE FROM version_params WHERE key = 'depth'"],
        {"row-changed"},
    ),
    (
        "data link added",
        [
            "INSERT INTO version_data (version_id, snapshot_id, role) "
            "SELECT v.id, s.id, 'eval' FROM model_versions v, snapshots s "
            "WHERE v.number = 2 AND s.name = 'holdout'"
        ],
        {"row-changed"},
    ),
    (
        "snapshot tree edited",
        ["UPDATE snapshots SET tree_sha256 = '" + "1" * 64 + "' WHERE name = 'train'"],
        {"row-changed", "id-mismatch"},
    ),
    ("transform inputs deleted", ["DELETE FROM transform_inputs"], {"rows-missing"}),
    (
        "eval result edited",
        ["UPDATE eval_results SET metrics_json = replace(metrics_json, '0.9', '0.99')"],
        {"row-changed", "id-mismatch"},
    ),
    ("eval metric index edited", ["UPDATE eval_metrics SET value = 0.99"], {"row-changed"}),
    (
        "model card edited",
        ["UPDATE card_revisions SET card_json = replace(card_json, 'ranking', 'lending')"],
        {"row-changed"},
    ),
    ("dataset card deleted", ["DELETE FROM dataset_cards"], {"rows-missing"}),
    (
        "gate policy edited",
        ["UPDATE gate_policies SET policy_json = replace(policy_json, '1', '0')"],
        {"row-changed", "id-mismatch"},
    ),
    (
        "promotion history deleted",
        ["DELETE FROM env_history WHERE seq = 2"],
        {"rows-missing", "env-state"},
    ),
    (
        "live pointer repointed",
        ["UPDATE environments SET current_id = (SELECT id FROM model_versions WHERE number = 1)"],
        {"env-state"},
    ),
    (
        "environment policy repointed",
        ["UPDATE environments SET policy_sha256 = NULL"],
        {"env-state"},
    ),
    (
        "route edited",
        ["UPDATE env_routes SET policy_json = replace(policy_json, '90', '10')"],
        {"row-changed"},
    ),
    (
        "system components edited",
        ["UPDATE system_components SET ref = 'mv-" + "0" * 64 + "' WHERE key = 'model'"],
        {"row-changed"},
    ),
    ("tag edited", ["UPDATE version_tags SET value = 'dev' WHERE key = 'stage'"], {"tag-state"}),
    ("tag deleted", ["DELETE FROM version_tags WHERE key = 'team'"], {"tag-state"}),
    (
        "description edited",
        ["UPDATE version_descriptions SET text = 'other'"],
        {"description-state"},
    ),
    (
        "prediction edited",
        ["UPDATE predictions SET output_json = '{\"p\":0.99}' WHERE request_id = 'r1'"],
        {"log-changed"},
    ),
    ("prediction deleted", ["DELETE FROM predictions WHERE request_id = 'r2'"], {"log-changed"}),
    (
        "prediction forged",
        [
            "INSERT INTO predictions SELECT 'forged', mode, version_id, env, system_id, arm, "
            "served_at, input_sha256, output_json, confidence, latency_ms, segment_id, NULL "
            "FROM predictions WHERE request_id = 'r1'"
        ],
        {"log-unbound"},
    ),
    ("prediction segment deleted", ["DELETE FROM prediction_segments"], {"rows-missing"}),
    ("feedback edited", ["UPDATE feedback SET was_correct = NOT was_correct"], {"row-changed"}),
    (
        "event payload edited",
        [
            "UPDATE events SET payload_json = replace(payload_json, '\"number\":1', '\"number\":7') "
            "WHERE kind = 'model.registered'"
        ],
        {"chain"},
    ),
    ("event actor edited", ["UPDATE events SET actor = 'mallory' WHERE seq = 3"], {"chain"}),
    (
        "last event deleted",
        ["DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)"],
        {"checkpoint"},
    ),
    (
        "whole chain recomputed",
        [lambda c: _recompute_chain(c, lambda e: e["payload"].update(number=7))],
        {"checkpoint"},
    ),
    ("events emptied", ["DELETE FROM events"], {"checkpoint", "row-unbound"}),
    ("events table dropped", ["DROP TABLE events"], {"events-missing"}),
    ("checkpoint signed by another key", [_wrong_key], {"checkpoint"}),
]


def test_the_untouched_ledger_verifies_clean(ledger_copy: Copy) -> None:
    found = ledger_copy.verify()
    assert found["ok"] is True, found["damage"]
    assert found["damage"] == [] and found["predictions"] == 6
    assert [c["ok"] for c in found["checkpoints"]] == [True]
    assert set(found["rows"]) >= {"model_versions", "env_history", "feedback", "env_routes"}
    assert all(n > 0 for n in found["rows"].values()), found["rows"]


def test_there_are_at_least_25_kinds() -> None:
    assert len(CASES) >= 25 and len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "damage", "kinds"), CASES, ids=[c[0] for c in CASES])
def test_each_damage_is_named(
    ledger_copy: Copy, name: str, damage: list[SQL], kinds: set[str]
) -> None:
    for step in damage:
        if isinstance(step, str):
            ledger_copy.execute(step)
        else:
            step(ledger_copy)
    found = ledger_copy.verify()
    assert found["ok"] is False, name
    named = {d["kind"] for d in found["damage"]}
    assert kinds <= named, (name, found["damage"])
    out = ledger_copy.run("audit", "verify", "--checkpoint", str(ledger_copy.checkpoint), code=1)
    assert out == ""  # the findings go to stderr, the exit code says it


def test_an_altered_checkpoint_is_refused(ledger_copy: Copy) -> None:
    doc = json.loads(ledger_copy.checkpoint.read_text())
    doc["checkpoint"]["size"] -= 1
    ledger_copy.checkpoint.write_text(json.dumps(doc))
    out = ledger_copy.run("audit", "verify", "--checkpoint", str(ledger_copy.checkpoint), code=2)
    del out


PARALLEL = ["version params edited", "version forged", "prediction edited",
            "prediction forged", "tag edited", "event actor edited", "dataset card deleted"]  # fmt: skip


@pytest.mark.parametrize("name", PARALLEL)
def test_the_worker_process_finds_the_same(ledger_copy: Copy, name: str) -> None:
    """A large ledger's tables are read in a second process: what it finds is the same."""
    from modelledger.cli.id_recipes import RECIPES
    from modelledger.ledger.home import open_ledger
    from modelledger.ledger.integrity import verify_ledger
    from modelledger.settings import Settings

    _, damage, kinds = next(c for c in CASES if c[0] == name)
    with open_ledger(Settings(home=ledger_copy.run.home)) as led:
        clean = verify_ledger(led, RECIPES, parallel=True)
        assert clean.ok and clean.predictions == 6, clean.damage
        for step in damage:
            ledger_copy.execute(step) if isinstance(step, str) else step(ledger_copy)
        found = verify_ledger(led, RECIPES, parallel=True)
        alone = verify_ledger(led, RECIPES, parallel=False)
    assert kinds - {"checkpoint"} <= {d.kind for d in found.damage}
    assert found.damage == alone.damage
