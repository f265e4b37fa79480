"""The public Python API, as a training script uses it."""

import random

import pytest

import modelledger as ml
from modelledger.errors import CheckFailed, DirtyWorkingTree, InvalidInput, NotFound
from modelledger.ledger.home import now
from tests.conftest import write
from tests.models.test_register import git
from tests.people import key_file, people


@pytest.fixture
def repo(ledger, project):
    write(project / "train.py", "print('train')\n")
    write(project / ".gitignore", "data/\n*.pkl\n")  # data and models are not code
    git(project, "init", "-q")
    git(project, "add", "train.py", ".gitignore")
    git(project, "commit", "-qm", "init")
    return project


def test_run_captures_everything_and_registers_on_log_model(ledger, repo):
    snap = ml.snapshot(write(repo / "data" / "train.csv", "a\n1\n"), "train", ledger=ledger)
    with ml.run(name="delay", seed=7, data=[snap.id], params={"lr": 0.1}, ledger=ledger) as run:
        assert random.random() == random.Random(7).random()  # the recorded seed is the real one
        run.log_param("depth", 6)
        version = run.log_model(write(repo / "model.pkl", b"weights"), params={"epochs": 3})
    assert version.label == "delay@1"
    t = version.tuple
    assert t.seed == 7 and t.params == {"lr": 0.1, "depth": 6, "epochs": 3}
    assert t.code.commit == git(repo, "rev-parse", "HEAD") and not t.code.dirty
    assert [d.snapshot_id for d in t.data] == [snap.id]
    assert version.reproducibility.status == "reproducible"
    assert version.manifest["run_started_at"] <= version.manifest["run_logged_at"]
    assert ml.get_version("delay@1", ledger=ledger).id == version.id
    assert [v.id for v in ml.list_versions("delay", ledger=ledger)] == [version.id]


def test_run_without_seed_records_the_seed_it_drew(ledger, repo):
    with ml.run(name="m", ledger=ledger) as run:
        v = run.log_model(write(repo / "m.bin", b"w"))
    assert isinstance(v.tuple.seed, int) and v.tuple.seed == run.seed


def test_dirty_tree_is_refused_before_training_starts(ledger, repo):
    write(repo / "train.py", "print('edited')\n")
    trained = []
    with pytest.raises(DirtyWorkingTree), ml.run(name="m", ledger=ledger):
        trained.append(True)
    assert trained == []


def test_an_untracked_script_is_refused_before_training_starts(ledger, repo):
    write(repo / "train_v2.py", "print('never added')\n")
    with (
        pytest.raises(DirtyWorkingTree, match=r"train_v2\.py \(untracked\)"),
        ml.run(name="m", ledger=ledger),
    ):
        pass
    with ml.run(name="m", ledger=ledger, allow_dirty=True) as run:
        version = run.log_model(write(repo / "model.pkl", b"w"))
    assert version.tuple.code.dirty
    assert b"never added" in ledger.blobs.get(version.tuple.code.diff_sha256)


def test_register_model_and_default_ledger(ledger, project):
    v = ml.register_model("m", write(project / "m.bin", b"w"), params={"a": 1}, code_ref="x@1")
    assert ml.get_version(v.id[:10]).label == "m@1"


def test_data_api_snapshot_lineage_diff_leakage_affected(ledger, project):
    header = "user_id,event_type\n"
    n1 = ml.snapshot(
        write(project / "n1" / "ev.csv", header + "1,click\n2,cart\n4,click\n5,cart\n6,click\n"),
        "ev",
        ledger=ledger,
    )
    card = {"sources": [{"name": "clickstream"}]}
    n2 = ml.snapshot(
        write(project / "n2" / "ev.csv", header + "1,click\n3,view\n4,click\n7,view\n6,click\n"),
        "ev",
        card=card,
        derived_from=[n1.id],
        step="filter",
        ledger=ledger,
    )
    found = ml.diff_data(n1.id, n2.id, ledger=ledger)
    assert found["findings"][0]["kind"] == "category_vanished"
    assert ml.leakage(n2.id, [n1.id], ledger=ledger)["overlapping_rows"] == 3
    assert [s["id"] for s in ml.affected(source="clickstream", ledger=ledger)["snapshots"]] == [
        n2.id
    ]
    out = ml.checkout(n2.id, project / "co", ledger=ledger)
    assert (out / "ev.csv").read_text().startswith(header)


def test_release_api_eval_gate_promote_live_rollback(ledger, project):
    es = ml.create_eval_set("core", write(project / "e.csv", "a,b\n1,2\n3,4\n"))
    ids = [
        ml.register_model(
            "m", write(project / f"{n}.bin", f"w{n}"), code_ref="r", params={"n": n}
        ).id
        for n in (1, 2)
    ]
    write(project / "p.yaml", f"eval_set: {es}\nmetrics: [{{name: acc, min: 0.8}}]\n")
    from modelledger.releases.environments import set_policy

    set_policy(ledger, "production", project / "p.yaml")
    assert ml.record_eval(ids[0], es, {"acc": 0.9})["created"]
    ml.record_eval(ids[1], es, {"acc": 0.7}, slices={"new": {"acc": 0.6}})
    assert not ml.gate_check(ids[1], "production")["passed"]
    people(ledger, project, approvers=("bob",))  # carol asks, bob approves
    carol, bob = key_file(project, "carol"), key_file(project, "bob")
    with pytest.raises(CheckFailed, match="acc"):
        ml.promote(ids[1], "production", key=carol)
    asked = ml.promote(ids[0], "production", reason="first", key=carol)
    assert not asked["promoted"] and asked["request"]["status"] == "pending"
    assert asked["request"]["requester"] == "carol"
    with pytest.raises(NotFound):
        ml.live("production")  # nothing moves before the approval
    done = ml.approve(asked["request"]["id"], key=bob)
    assert done["promoted"] and done["promotion"]["approvers"] == ["bob"]
    assert ml.live("production") == ids[0]
    assert ml.live_at("production", now()) == ids[0]
    with pytest.raises(InvalidInput):
        ml.record_eval(ids[0], es, {"acc": "high"})
    report = ml.rehearse("production")
    assert not report["passed"]  # nothing to roll back to yet
    with pytest.raises(NotFound):
        ml.rollback("production", [], "drill", key=bob)
