"""Composite systems: identity, diff, and going live / coming back like single versions."""

import pytest

from modelledger.core.errors import AmbiguousReference, InvalidInput, NotFound
from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.evals import evaluate
from modelledger.models import systems
from modelledger.models.register import RegisterRequest, register
from modelledger.releases import environments as envs
from modelledger.releases.env_status import show
from modelledger.releases.promote import GateFailed
from modelledger.releases.rehearse import rehearse
from modelledger.releases.rollback import rollback
from tests.conftest import write
from tests.people import key_of, promote_approved


def model(ledger, project, name, n=1):
    art = write(project / f"{name}-{n}.bin", f"{name} weights {n}")
    return register(
        ledger, RegisterRequest(name=name, artifact=art, code_ref=f"r@{n}", params={"n": n})
    ).version


def snap(ledger, project, name, text):
    return snapshot(
        ledger, SnapshotRequest([write(project / name / "data.txt", text)], name)
    ).snapshot


@pytest.fixture
def rag(ledger, project):
    embedder, generator = model(ledger, project, "embedder"), model(ledger, project, "generator")
    index = snap(ledger, project, "index", "doc vectors v1")
    prompt = snap(ledger, project, "prompt", "You are a helpful agent. {question}")
    parts = [
        f"embedder={embedder.label}",
        f"index={index.id}",
        f"prompt={prompt.id[:12]}",
        f"generator={generator.id}",
    ]
    system, created = systems.create(ledger, "support-rag", parts)
    assert created
    return {"system": system, "parts": parts, "embedder": embedder, "generator": generator}


def test_same_components_same_id_and_a_reindex_is_a_new_system(ledger, project, rag):
    s1 = rag["system"]
    assert s1.id.startswith("sys-") and s1.label == "support-rag@1"
    again, created = systems.create(ledger, "support-rag", list(reversed(rag["parts"])))
    assert (again.id, created) == (s1.id, False)
    reindexed = snap(ledger, project, "index", "doc vectors v2")
    parts = [p if not p.startswith("index=") else f"index={reindexed.id}" for p in rag["parts"]]
    s2, _ = systems.create(ledger, "support-rag", parts)
    assert s2.id != s1.id and s2.label == "support-rag@2"
    change = systems.diff(ledger, "support-rag@1", "support-rag@2")
    assert [c["key"] for c in change["changed"]] == ["index"]
    assert change["unchanged"] == ["embedder", "generator", "prompt"]
    shown = systems.show(ledger, s2.id[:10])
    assert shown["component_labels"]["generator"] == "generator@1"
    assert shown["component_labels"]["index"] == "index (snapshot)"


@pytest.mark.parametrize(
    ("parts", "error", "match"),
    [
        ([], InvalidInput, "at least one"),
        (["index"], InvalidInput, "KEY=REF"),
        (["1x=embedder@1"], InvalidInput, "key"),
        (["a=embedder@1", "a=generator@1"], InvalidInput, "given twice"),
        (["tools=./tools.json"], InvalidInput, "snapshot"),
        (["gen=generator@7"], NotFound, "generator@7"),
        (["gen=hf/llama@main"], InvalidInput, "floats"),
        (["gen=hf/llama@main#" + "a" * 64], None, None),
    ],
)
def test_bad_components(ledger, project, rag, parts, error, match):
    if error is None:
        assert (
            systems.create(ledger, "ext", parts)[0].components["gen"].startswith("hf/llama@main#")
        )
        return
    with pytest.raises(error, match=match):
        systems.create(ledger, "bad", parts)


def test_a_system_is_gated_promoted_rehearsed_and_rolled_back(ledger, project, rag):
    s1 = rag["system"]
    eval_set, _ = evaluate.create_eval_set(
        ledger, "qa", [write(project / "qa.jsonl", '{"q": "hi"}\n')]
    )
    es = eval_set.snapshot.id
    write(
        project / "p.yaml",
        f"eval_set: {es}\nmetrics: [{{name: answer_f1, min: 0.6, max_drop_vs_live: 0.02}}]\n",
    )
    envs.set_policy(ledger, "production", project / "p.yaml")
    evaluate.record(ledger, s1.id, es, {"answer_f1": 0.71}, {})
    promote_approved(ledger, "support-rag@1", "production")
    state = show(ledger, "production")
    assert (state["id"], state["label"]) == (s1.id, "support-rag@1")

    reindexed = snap(ledger, project, "index", "doc vectors v2 (broken)")
    parts = [p if not p.startswith("index=") else f"index={reindexed.id}" for p in rag["parts"]]
    s2, _ = systems.create(ledger, "support-rag", parts)
    evaluate.record(ledger, s2.id, es, {"answer_f1": 0.64}, {})
    with pytest.raises(GateFailed, match="answer_f1"):
        promote_approved(ledger, s2.id, "production")
    evaluate.record(ledger, "support-rag@1", es, {"answer_f1": 0.71}, {})  # same result: idempotent
    write(project / "lenient.yaml", f"eval_set: {es}\nmetrics: [{{name: answer_f1, min: 0.6}}]\n")
    envs.set_policy(ledger, "production", project / "lenient.yaml", key=key_of(project, "carol"))
    promote_approved(ledger, s2.id, "production")

    done = rehearse(ledger, "production")
    assert done.passed, [c.to_json() for c in done.checks]
    checked = {(c.role, c.name) for c in done.checks}
    assert ("target", "snapshot") in checked and ("current", "artifact") in checked
    back = rollback(
        ledger, "production", [], "answers got worse after the reindex", key=key_of(project, "bob")
    )
    assert (back.previous.id, back.target.id) == (s2.id, s1.id)
    assert envs.history(ledger, "production")[-1]["label"] == "support-rag@1"


def test_names_shared_by_a_model_and_a_system_are_ambiguous(ledger, project, rag):
    model(ledger, project, "support-rag")
    with pytest.raises(AmbiguousReference):
        evaluate.record(ledger, "support-rag@1", "ds-0000", {"x": 1.0}, {})


def test_a_floating_external_component_is_named_as_such(ledger, project, rag):
    with pytest.raises(InvalidInput, match="floats"):
        systems.create(ledger, "tools", ["tools=crm-tools@v3"])
