"""Evals, gates, promotion, environments, rehearsal and rollback through the services, on a real
SQLite file and on PostgreSQL."""

import pytest
from sqlalchemy import text

from modelledger.core.errors import (
    CheckFailed,
    Conflict,
    ImmutableRecord,
    InvalidInput,
    NotAllowed,
    NotFound,
)
from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.evals import evaluate
from modelledger.ledger.audit import verify as verify_chain
from modelledger.ledger.home import now
from modelledger.models import reads as models
from modelledger.models.register import RegisterRequest, register
from modelledger.models.resolve import resolve_version
from modelledger.releases import environments as envs
from modelledger.releases import gatekeeper
from modelledger.releases.env_status import show
from modelledger.releases.promote import GateFailed, promote
from modelledger.releases.rehearse import RehearsalFailed, rehearse
from modelledger.releases.rollback import rollback
from modelledger.releases.stale import stale
from modelledger.releases.workflow import listing
from tests.conftest import write
from tests.people import approved, key_of, people

EVAL_CSV = "user,segment,label\n" + "".join(
    f"u{i},{'new' if i % 3 else 'old'},{i % 2}\n" for i in range(40)
)
TRAIN_CSV = "user,segment,label\n" + "".join(f"t{i},old,{i % 2}\n" for i in range(40))


def counts(ledger):
    with ledger.db.read() as conn:
        return {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("events", "env_history", "eval_results", "gate_policies")
        }


def version(ledger, project, n, *, loader=None, content=None, **kw):
    art = write(project / f"model{n}.bin", content if content is not None else f"weights {n}")
    kw.setdefault("code_ref", f"git+https://example.com/fraud.git@{n:040x}")
    return register(
        ledger, RegisterRequest(name="fraud", artifact=art, params={"n": n}, loader=loader, **kw)
    ).version


@pytest.fixture
def story(ledger, project):
    """Training snapshot, eval set, three versions and a production policy with a protected slice."""
    train = snapshot(ledger, SnapshotRequest([write(project / "train.csv", TRAIN_CSV)], "train"))
    eval_set, _ = evaluate.create_eval_set(
        ledger, "core", [write(project / "eval" / "e.csv", EVAL_CSV)]
    )
    set_id = eval_set.snapshot.id
    vs = [version(ledger, project, n, data=[f"{train.snapshot.id}:train"]) for n in (1, 2, 3)]
    policy = write(
        project / "policy.yaml",
        f"""
eval_set: {set_id}
metrics:
  - {{name: auc, min: 0.80, max_drop_vs_live: 0.01}}
protected_slices: {{names: [new_users], max_drop: 0.02}}
approvers: 1
four_eyes: true
require: {{lock: true, data_pinned: true}}
""",
    )
    envs.set_policy(ledger, "production", policy)
    return {
        "eval_set": set_id,
        "versions": vs,
        "train": train.snapshot.id,
        "key": lambda name: key_of(project, name),
    }


def score(ledger, v, set_id, auc, new_users):
    return evaluate.record(ledger, v.id, set_id, {"auc": auc}, {"new_users": {"auc": new_users}})


def test_gate_story_slice_regression_blocks_then_fix_promotes(ledger, story):
    v1, v2, v3 = story["versions"]
    s = story["eval_set"]
    score(ledger, v1, s, 0.90, 0.85)
    approved(ledger, v1.label, "production", ["bob"], reason="first")
    assert show(ledger, "production")["id"] == v1.id

    score(ledger, v2, s, 0.93, 0.80)  # better overall, worse on the protected slice
    before = counts(ledger)
    with pytest.raises(GateFailed) as failed:
        approved(ledger, v2.label, "production", ["bob"])
    rows = {c.name: c for c in failed.value.decision.report.criteria}
    assert rows["metric auc vs live"].passed
    assert not rows["slice new_users auc vs live"].passed
    assert counts(ledger) == before and show(ledger, "production")["id"] == v1.id

    score(ledger, v3, s, 0.91, 0.86)
    done = approved(ledger, v3.label, "production", ["bob"], reason="fixes new users")
    assert done.move.previous_id == v1.id and done.move.action == "promote"
    state = show(ledger, "production")
    assert (state["id"], state["label"], state["approved_by"], state["promoted_by"]) == (
        v3.id,
        "fraud@3",
        ["bob"],
        "carol",  # the requester: the principal whose key signed the request
    )
    with ledger.db.read() as conn:
        assert resolve_version(conn, "fraud@production") == v3.id
    log = [e for e in _events(ledger) if e["kind"] == "promotion"]
    assert len(log) == 2
    last = log[-1]["payload"]
    assert last["previous"] == v1.id and last["approvers"] == ["bob"]
    assert last["policy_sha256"] == state["policy_sha256"] and last["gate"]["passed"]
    assert verify_chain(ledger).ok


def _events(ledger):
    from modelledger.ledger.audit import EventQuery, log

    return [e.to_json() for e in log(ledger, EventQuery(limit=1000)).events]


def test_gate_names_the_command_when_a_result_is_missing(ledger, story):
    v1, _, _ = story["versions"]
    decision = gatekeeper.check(ledger, v1.id, "production")
    assert not decision.report.passed
    detail = " ".join(c.detail for c in decision.report.failures())
    assert f"mledger eval record {v1.id} --eval-set {story['eval_set']}" in detail
    score(ledger, v1, story["eval_set"], 0.9, 0.9)
    assert gatekeeper.check(ledger, v1.id, "production").report.passed  # nothing live: floors only


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda led, s: promote(led, "fraud@9", "production"), NotFound, "fraud@9"),
        (lambda led, s: promote(led, "fraud@1", "production"), InvalidInput, "your signing key"),
        (
            lambda led, s: promote(led, "fraud@1", "production", key=s["key"]("nobody")),
            NotAllowed,
            "belongs to no enabled principal",
        ),
        (lambda led, s: promote(led, "fraud@1", "staging"), NotFound, "no environment"),
        (
            lambda led, s: promote(
                led, "fraud@2", "production", override=True, reason="x", key=s["key"]("carol")
            ),
            InvalidInput,
            "allow_override",
        ),
        (lambda led, s: envs.at(led, "production", "last tuesday"), InvalidInput, "ISO-8601"),
        (lambda led, s: envs.at(led, "production", "2001-01-01"), InvalidInput, "did not exist"),
        (
            lambda led, s: rollback(led, "production", [], "why", key=s["key"]("bob")),
            NotFound,
            "nothing is live",
        ),
        (lambda led, s: rollback(led, "production", [], "why"), InvalidInput, "signing key"),
        (
            lambda led, s: rollback(led, "production", ["bob"], "why", key=s["key"]("bob")),
            InvalidInput,
            "typed --approver",
        ),
    ],
)
def test_bad_input_changes_nothing(ledger, project, story, call, error, match):
    score(ledger, story["versions"][0], story["eval_set"], 0.9, 0.9)
    people(ledger, project, ["bob"])
    before = counts(ledger)
    with pytest.raises(error, match=match):
        call(ledger, story)
    assert counts(ledger) == before


def test_irreproducible_version_is_refused_where_reproducibility_is_required(ledger, project):
    old = register(
        ledger,
        RegisterRequest(
            name="legacy",
            artifact=write(project / "old.pkl", b"old"),
            irreproducible="found on a share",
        ),
    ).version
    envs.set_policy(
        ledger, "production", write(project / "p.yaml", "require: {reproducible: true}\n")
    )
    before = counts(ledger)
    with pytest.raises(GateFailed, match="reproducible"):
        promote(ledger, old.id, "production")
    assert counts(ledger) == before


@pytest.mark.parametrize(
    ("policy", "match"),
    [
        ("approvers: 1\nfour_eye: true\n", "four_eye"),
        ("approvers: two\n", "approvers"),
        ("metrics: [{name: auc, min: 0.8}]\n", "eval_set"),
        ("- just a list\n", "mapping"),
    ],
)
def test_bad_policy_file_names_the_key_and_changes_nothing(ledger, project, policy, match):
    before = counts(ledger)
    with pytest.raises(InvalidInput, match=match):
        envs.set_policy(ledger, "production", write(project / "bad.yaml", policy))
    assert counts(ledger) == before


def test_override_is_a_distinct_event_when_the_policy_allows_it(ledger, project, story):
    v1 = story["versions"][0]
    policy = write(
        project / "o.yaml",
        f"eval_set: {story['eval_set']}\nmetrics: [{{name: auc, min: 0.95}}]\nallow_override: true\n",
    )
    envs.set_policy(ledger, "production", policy)
    score(ledger, v1, story["eval_set"], 0.9, 0.9)
    with pytest.raises(InvalidInput, match="--reason"):
        approved(ledger, v1.id, "production", ["bob"], override=True)
    done = approved(ledger, v1.id, "production", ["bob"], override=True, reason="incident 42")
    assert done.move.action == "override"
    assert [e["kind"] for e in _events(ledger)][-1] == "promotion.override"


def test_eval_results_are_immutable_and_compare_refuses_different_sets(ledger, project, story):
    v1, v2, _ = story["versions"]
    s = story["eval_set"]
    first = score(ledger, v1, s, 0.9, 0.8)
    assert first.created and score(ledger, v1, s, 0.9, 0.8).created is False
    with pytest.raises(Conflict, match="already has a result"):
        score(ledger, v1, s, 0.95, 0.8)
    other, _ = evaluate.create_eval_set(
        ledger, "core", [write(project / "e2.csv", EVAL_CSV + "u99,new,1\n")]
    )
    evaluate.record(ledger, v2.id, other.snapshot.id, {"auc": 0.93}, {})
    with pytest.raises(CheckFailed, match="not scored on a common eval set") as refused:
        evaluate.compare(ledger, v1.id, v2.id)
    assert s[:15] in str(refused.value) and other.snapshot.id[:15] in str(refused.value)
    evaluate.record(ledger, v2.id, s, {"auc": 0.92}, {"new_users": {"auc": 0.85}})
    found = evaluate.compare(ledger, v1.id, v2.id)
    [block] = found["eval_sets"]
    assert block["metrics"] == [
        {"metric": "auc", "a": 0.9, "b": 0.92, "delta": pytest.approx(0.02)}
    ]
    assert found["only_b"] == [other.snapshot.id]
    with pytest.raises(ImmutableRecord), ledger.db.write() as conn:
        conn.execute(text("UPDATE eval_results SET metrics_json = '{}'"))


def test_eval_stale_lists_what_needs_rescoring(ledger, project, story):
    v1, _, v3 = story["versions"]
    s = story["eval_set"]
    score(ledger, v1, s, 0.9, 0.9)
    approved(ledger, v1.id, "production", ["bob"])
    new, _ = evaluate.create_eval_set(
        ledger, "core", [write(project / "e3.csv", EVAL_CSV + "u100,new,0\n")]
    )
    evaluate.record(ledger, v3.id, new.snapshot.id, {"auc": 0.9}, {})
    found = stale(ledger, new.snapshot.id, recent=2)
    assert [(m["label"], m["why"]) for m in found["missing"]] == [
        ("fraud@1", "was live"),
        ("fraud@2", "recent"),
    ]


def test_recording_warns_when_the_eval_set_overlaps_training(ledger, project):
    rows = "user,segment,label\n" + "".join(f"u{i},new,{i % 2}\n" for i in range(20))
    train = snapshot(ledger, SnapshotRequest([write(project / "t.csv", rows)], "train")).snapshot
    leaky, _ = evaluate.create_eval_set(ledger, "leaky", [write(project / "l.csv", rows)])
    v = version(ledger, project, 7, data=[f"{train.id}:train"])
    done = evaluate.record(ledger, v.id, leaky.snapshot.id, {"auc": 0.99}, {})
    assert done.warnings and "overlaps the training data" in done.warnings[0]


def test_bad_metrics_are_refused(ledger, story):
    from modelledger.evals.results import parse_metrics_file

    for bad in ([0.9], {"auc": "high"}, {"auc": True}, {}, {"slices": {"x": 1}, "auc": 0.9}):
        with pytest.raises(InvalidInput):
            parse_metrics_file(bad)
    with pytest.raises(InvalidInput, match="not an eval set"):
        evaluate.record(ledger, story["versions"][0].id, story["train"], {"auc": 0.9}, {})


def test_env_at_answers_what_was_live_at_each_instant(ledger, story):
    v1, _, v3 = story["versions"]
    s = story["eval_set"]
    score(ledger, v1, s, 0.9, 0.85)
    score(ledger, v3, s, 0.9, 0.85)
    first = approved(ledger, v1.id, "production", ["bob"]).move
    second = approved(ledger, v3.id, "production", ["bob"]).move
    created = show(ledger, "production")["created_at"]
    assert envs.at(ledger, "production", created)["id"] is None  # existed, nothing live yet
    assert envs.at(ledger, "production", first.at)["id"] == v1.id
    assert envs.at(ledger, "production", second.at)["id"] == v3.id
    assert envs.at(ledger, "production", now())["label"] == "fraud@3"
    assert [m["label"] for m in envs.history(ledger, "production")] == ["fraud@1", "fraud@3"]


def test_rollback_flips_back_and_skips_what_was_abandoned(ledger, project, story):
    v1, v2, v3 = story["versions"]
    envs.set_policy(ledger, "production", write(project / "lean.yaml", "approvers: 1\n"))
    for v in (v1, v2, v3):
        approved(ledger, v.id, "production", ["bob"])
    with pytest.raises(InvalidInput, match="was never live"):
        bob = key_of(project, "bob")
        rollback(ledger, "production", [], "x", to=version(ledger, project, 8).id, key=bob)
    done = rollback(ledger, "production", [], "v3 breaks checkout", key=key_of(project, "bob"))
    assert (done.previous.id, done.target.id) == (v3.id, v2.id)
    assert (
        rollback(ledger, "production", [], "v2 too", key=key_of(project, "bob")).target.id == v1.id
    )  # not back to v3
    with pytest.raises(NotFound, match="no version to roll back to"):
        rollback(ledger, "production", [], "again", key=key_of(project, "bob"))
    done = rollback(ledger, "production", [], "explicit", to=v3.label, key=key_of(project, "bob"))
    assert done.target.id == v3.id
    kinds = [e["kind"] for e in _events(ledger)]
    assert kinds.count("rollback") == 3
    assert verify_chain(ledger).ok


def test_rollback_target_from_the_model_card(ledger, project, story):
    v1, v2, v3 = story["versions"]
    envs.set_policy(ledger, "production", write(project / "lean.yaml", "approvers: 1\n"))
    for v in (v1, v2, v3):
        approved(ledger, v.id, "production", ["bob"])
    models.amend_card(ledger, v3.id, {"rollback_target": v1.label})
    assert (
        rollback(ledger, "production", [], "use the card", key=key_of(project, "bob")).target.id
        == v1.id
    )


def test_rollback_refuses_a_target_that_fails_rehearsal(ledger, project, story):
    v1, v2, _ = story["versions"]
    envs.set_policy(ledger, "production", write(project / "lean.yaml", "approvers: 1\n"))
    approved(ledger, v1.id, "production", ["bob"])
    approved(ledger, v2.id, "production", ["bob"])
    blob = ledger.blobs.path(v1.tuple.artifact.sha256)
    import os

    os.chmod(blob, 0o644)
    with open(blob, "wb") as f:
        f.write(b"bit rot")
    before = counts(ledger)
    with pytest.raises(RehearsalFailed, match="fails rehearsal") as refused:
        rollback(ledger, "production", [], "try", key=key_of(project, "bob"))
    assert any(c.name == "artifact" and c.status == "fail" for c in refused.value.checks)
    assert counts(ledger) == before and show(ledger, "production")["id"] == v2.id


def test_concurrent_promotions_serialize_exactly_one_wins(ledger, project, story, db_url):
    import subprocess
    import sys
    from pathlib import Path

    envs.set_policy(ledger, "production", write(project / "lean.yaml", "approvers: 1\n"))
    v1 = story["versions"][0]
    approved(ledger, v1.id, "production", ["bob"])
    candidates = [version(ledger, project, 100 + i) for i in range(4)]
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.releases.promote_worker",
                str(ledger.config.home),
                db_url or "",
                c.id,
                v1.id,
            ],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in candidates
    ]
    outcomes = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 3, 3, 3], outcomes
    winner = candidates[codes.index(0)]
    assert show(ledger, "production")["id"] == winner.id
    assert len(envs.history(ledger, "production")) == 2
    assert verify_chain(ledger).ok


def test_env_history_rows_are_immutable(ledger, story):
    v1 = story["versions"][0]
    score(ledger, v1, story["eval_set"], 0.9, 0.9)
    approved(ledger, v1.id, "production", ["bob"])
    for statement in (
        "UPDATE env_history SET reason = 'x'",
        "DELETE FROM env_history",
        "DELETE FROM gate_policies",
    ):
        with pytest.raises(ImmutableRecord), ledger.db.write() as conn:
            conn.execute(text(statement))


# --- rehearsal with real models -------------------------------------------------------------


def _sk_model(path, c):
    joblib = pytest.importorskip("joblib")
    linear = pytest.importorskip("sklearn.linear_model")
    x = [[i / 10, (i % 3) / 3] for i in range(20)]
    y = [i % 2 for i in range(20)]
    joblib.dump(linear.LogisticRegression(C=c).fit(x, y), path)
    return path.read_bytes()


def test_rehearse_loads_both_versions_and_rollback_reuses_it(ledger, project):
    envs.create(ledger, "production")
    v1 = version(ledger, project, 1, loader="joblib", content=_sk_model(project / "a.joblib", 1.0))
    v2 = version(ledger, project, 2, loader="joblib", content=_sk_model(project / "b.joblib", 2.0))
    inputs = {"inputs": {"x1": "float", "x2": "float"}}
    models.amend_card(ledger, v1.id, inputs)
    models.amend_card(ledger, v2.id, {"inputs": {"x1": "float", "x2": "float", "x3": "int"}})
    approved(ledger, v1.id, "production", ["bob"])
    approved(ledger, v2.id, "production", ["bob"])
    done = rehearse(ledger, "production")
    assert done.passed, [c.to_json() for c in done.checks]
    by = {(c.role, c.name): c for c in done.checks}
    assert (
        by[("target", "loads")].status == "pass"
        and "fresh process" in by[("target", "loads")].detail
    )
    assert by[("target", "contract")].status == "pass"
    assert show(ledger, "production")["last_rehearsal"]["passed"] is True
    back = rollback(ledger, "production", [], "drill", key=key_of(project, "bob"))
    loads = next(c for c in back.checks if c.name == "loads")
    assert loads.status == "pass" and f"event #{done.event_seq}" in loads.detail


def test_rehearse_fails_on_an_unloadable_target_and_an_incompatible_contract(ledger, project):
    envs.create(ledger, "production")
    v1 = version(ledger, project, 1, loader="pickle", content=b"not a pickle")
    v2 = version(ledger, project, 2)
    models.amend_card(ledger, v1.id, {"inputs": {"x1": "float", "segment": "category"}})
    models.amend_card(ledger, v2.id, {"inputs": {"x1": "int"}})
    approved(ledger, v1.id, "production", ["bob"])
    approved(ledger, v2.id, "production", ["bob"])
    done = rehearse(ledger, "production")
    assert not done.passed
    failed = {c.name: c.detail for c in done.checks if c.status == "fail"}
    assert "pickle could not load" in failed["loads"]
    assert "segment" in failed["contract"]
    assert _events(ledger)[-1]["kind"] == "rehearsal"
    with pytest.raises(RehearsalFailed):
        rollback(ledger, "production", [], "drill", key=key_of(project, "bob"))


def test_rehearse_with_nothing_to_roll_back_to_fails_honestly(ledger, project):
    envs.create(ledger, "production")
    v1 = version(ledger, project, 1)
    approved(ledger, v1.id, "production", ["bob"])
    done = rehearse(ledger, "production")
    assert not done.passed
    assert any(c.name == "target" and "no version to roll back to" in c.detail for c in done.checks)


def test_override_never_waives_the_people_and_expect_live_takes_any_reference(
    ledger, project, story
):
    v1, v2, _ = story["versions"]
    policy = f"eval_set: {story['eval_set']}\nmetrics: [{{name: auc, min: 0.95}}]\nallow_override: true\n"
    envs.set_policy(ledger, "production", write(project / "o.yaml", policy))
    score(ledger, v1, story["eval_set"], 0.9, 0.9)
    with pytest.raises(NotAllowed, match="registered fraud@1: four eyes"):
        approved(ledger, v1.id, "production", ["alice"], override=True, reason="self-approved")
    [pending] = listing(ledger, "production")
    assert pending.request.action == "override" and pending.approved_by == ()
    approved(ledger, v1.id, "production", ["bob"], override=True, reason="incident 7")
    score(ledger, v2, story["eval_set"], 0.97, 0.9)
    with pytest.raises(Conflict, match="not the expected nothing"):
        approved(ledger, v2.id, "production", ["bob"], expect_live="none")
    done = approved(ledger, v2.id, "production", ["bob"], expect_live="fraud@1")
    assert done.move.previous_id == v1.id
    with pytest.raises(InvalidInput, match="in the future"):
        envs.at(ledger, "production", "2999-01-01")


def test_a_policy_eval_set_is_resolved_and_must_be_an_eval_set(ledger, project, story):
    set_id, train_id = story["eval_set"], story["train"]
    found = envs.set_policy(
        ledger, "staging", write(project / "s.yaml", f"eval_set: {set_id[:12]}\n")
    )
    assert found["changed"]
    assert envs.get_policy(ledger, "staging")["policy"]["eval_set"] == set_id  # pinned in full
    before = counts(ledger)
    with pytest.raises(InvalidInput, match="not an eval set"):
        envs.set_policy(ledger, "staging", write(project / "t.yaml", f"eval_set: {train_id}\n"))
    with pytest.raises(NotFound, match="no snapshot matches"):
        envs.set_policy(ledger, "staging", write(project / "u.yaml", f"eval_set: ds-{'0' * 64}\n"))
    assert counts(ledger) == before


@pytest.mark.parametrize(
    ("policy", "match"),
    [
        ("approvers: 0\n", "four_eyes"),
        ("approvers: 0\nfour_eyes: true\n", "four_eyes"),
    ],
)
def test_four_eyes_needs_an_approver(ledger, project, policy, match):
    with pytest.raises(InvalidInput, match=match):
        envs.set_policy(ledger, "production", write(project / "bad.yaml", policy))
    assert envs.set_policy(
        ledger, "production", write(project / "ok.yaml", "approvers: 0\nfour_eyes: false\n")
    )["changed"]


def test_a_wrong_shape_is_said_in_our_words(ledger, project, story):
    text = f"eval_set: {story['eval_set']}\nmetrics: [{{name: auc}}]\nprotected_slices: new_users\n"
    with pytest.raises(InvalidInput) as refused:
        envs.set_policy(ledger, "production", write(project / "bad.yaml", text))
    message = str(refused.value)
    assert "protected_slices" in message and "a mapping" in message
    assert "instance of" not in message and "ProtectedSlices" not in message
