import json
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.errors import InvalidInput
from modelledger.releases.gate import (
    DEFAULT_POLICY,
    GatePolicy,
    Scores,
    Subject,
    approval_rows,
    evaluate_gate,
    named_approval_rows,
    parse_policy,
    policy_json,
    policy_sha256,
)

EV = "ds-" + "e" * 64
CAND_ID = "mv-" + "c" * 64
LIVE_ID = "mv-" + "1" * 64


def subject(id_=CAND_ID, label="fraud@3", by="bob", **kw):
    fields = dict(clean_code=True, has_lock=True, data_pinned=True, reproducible=True)
    fields.update(kw)
    return Subject(id=id_, label=label, registered_by=by, **fields)


CAND = subject()
LIVE = subject(LIVE_ID, "fraud@2", "carol")


def scores(rid="ev-cand", slices=None, **metrics):
    return Scores(result_id=rid, metrics=metrics, slices=slices or {})


def policy(**kw):
    return parse_policy({"eval_set": EV, **kw})


def row(report, name):
    matches = [c for c in report.criteria if c.name == name]
    assert len(matches) == 1, [c.name for c in report.criteria]
    return matches[0]


def names(report):
    return [c.name for c in report.criteria]


# --- parsing ---------------------------------------------------------------------------------


def test_default_policy_is_lean():
    assert parse_policy({}) == DEFAULT_POLICY == GatePolicy()
    assert policy_json(DEFAULT_POLICY) == {
        "eval_set": None,
        "metrics": [],
        "protected_slices": None,
        "approvers": 1,
        "four_eyes": True,
        "require": {
            "clean_code": False,
            "lock": False,
            "data_pinned": False,
            "reproducible": False,
        },
        "allow_override": False,
    }


def test_full_policy_parses():
    p = parse_policy(
        {
            "eval_set": EV,
            "metrics": [
                {"name": "auc", "min": 0.8, "max_drop_vs_live": 0.01},
                {"name": "loss", "max": 0.5, "higher_is_better": False},
            ],
            "protected_slices": {"names": ["new_users"], "max_drop": 0.02, "metrics": ["auc"]},
            "approvers": 2,
            "require": {"clean_code": True, "lock": True},
            "allow_override": True,
        }
    )
    assert [m.name for m in p.metrics] == ["auc", "loss"]
    assert p.protected_slices is not None and p.protected_slices.max_drop == 0.02
    assert p.require.lock and not p.require.reproducible


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "gate policy: the file is empty"),
        ([1, 2], "expected a mapping"),
        ({"approver": 2}, "unknown key 'approver' (did you mean 'approvers'?)"),
        ({"require": {"tests": True}}, "unknown key 'require.tests'"),
        ({"eval_set": EV, "metrics": [{"name": "auc", "min": "high"}]}, "field 'metrics.0.min'"),
        ({"eval_set": EV, "metrics": [{"name": "auc", "mni": 1}]}, "unknown key 'metrics.0.mni'"),
        ({"eval_set": EV, "metrics": [{"name": ""}]}, "field 'metrics.0.name'"),
        ({"eval_set": EV, "metrics": [{"name": "a", "min": 2, "max": 1}]}, "field 'metrics.0'"),
        (
            {"eval_set": EV, "metrics": [{"name": "a", "max_drop_vs_live": -0.1}]},
            "field 'metrics.0.max_drop_vs_live'",
        ),
        ({"eval_set": EV, "metrics": [{"name": "a"}, {"name": "a"}]}, "more than once"),
        ({"metrics": [{"name": "auc", "min": 0.8}]}, "field 'metrics': metrics need eval_set"),
        ({"eval_set": "ds-abc123"}, "field 'eval_set': must be a full ds-"),
        ({"eval_set": "mv-" + "e" * 64}, "field 'eval_set'"),
        ({"eval_set": "holdout"}, "field 'eval_set'"),
        ({"approvers": -1}, "field 'approvers'"),
        ({"approvers": "two"}, "field 'approvers'"),
        ({"four_eyes": "maybe"}, "field 'four_eyes'"),
        ({"eval_set": EV, "metrics": [{"name": "a", "min": math.nan}]}, "field 'metrics.0.min'"),
        (
            {"protected_slices": {"names": ["x"]}},
            "field 'protected_slices': protected_slices need eval_set",
        ),
        (
            {"eval_set": EV, "metrics": [{"name": "a"}], "protected_slices": {"names": []}},
            "field 'protected_slices.names'",
        ),
        ({"eval_set": EV, "protected_slices": {"names": ["x"]}}, "add at least one to metrics"),
        (
            {
                "eval_set": EV,
                "metrics": [{"name": "auc"}],
                "protected_slices": {"names": ["x"], "metrics": ["f1"]},
            },
            "metrics f1 have no rule",
        ),
    ],
)
def test_parse_errors_name_the_key(data, message):
    with pytest.raises(InvalidInput, match="gate policy") as info:
        parse_policy(data)
    assert message in str(info.value)


def test_wrong_type_message_is_pydantics():
    with pytest.raises(InvalidInput) as info:
        parse_policy({"eval_set": EV, "metrics": [{"name": "auc", "min": [0.8]}]})
    assert str(info.value) == "gate policy field 'metrics.0.min': Input should be a valid number"


_policy_dicts = st.fixed_dictionaries(
    {
        "eval_set": st.just(EV),
        "metrics": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["auc", "f1", "loss"])},
                optional={
                    "min": st.floats(-1, 0, allow_nan=False),
                    "max_drop_vs_live": st.floats(0, 1),
                    "higher_is_better": st.booleans(),
                },
            ),
            max_size=3,
            unique_by=lambda m: m["name"],
        ),
    },
    optional={
        "approvers": st.integers(0, 5),
        "four_eyes": st.booleans(),
        "require": st.fixed_dictionaries({}, optional={"lock": st.booleans()}),
    },
)


@given(
    _policy_dicts.filter(lambda d: d.get("approvers", 1) or not d.get("four_eyes", True)),
    st.randoms(use_true_random=False),
)
def test_policy_sha256_ignores_key_order(data, rnd):
    def shuffled(value):
        if isinstance(value, dict):
            items = list(value.items())
            rnd.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    p = parse_policy(data)
    assert policy_sha256(parse_policy(shuffled(data))) == policy_sha256(p)
    # the JSON round-trips to the same policy, so the hash pins what is stored
    assert parse_policy(json.loads(json.dumps(policy_json(p)))) == p


def test_policy_sha256_changes_with_behaviour():
    assert policy_sha256(DEFAULT_POLICY) != policy_sha256(parse_policy({"approvers": 2}))
    # an explicit default is the same policy
    assert policy_sha256(DEFAULT_POLICY) == policy_sha256(parse_policy({"four_eyes": True}))


# --- evaluation ------------------------------------------------------------------------------

AUC = {"metrics": [{"name": "auc", "min": 0.8, "max_drop_vs_live": 0.01}]}


def test_pass_lists_every_criterion_in_order():
    p = policy(**AUC, approvers=1)
    report = evaluate_gate(p, CAND, scores(auc=0.915), LIVE, scores("ev-live", auc=0.922))
    assert report.passed, report.failures()
    assert names(report) == [
        "eval result (candidate)",
        "eval result (live)",
        "metric auc ≥ floor",
        "metric auc vs live",
    ]
    vs = row(report, "metric auc vs live")
    assert vs.bar == "≥ 0.912 (live 0.922 − 0.01)"
    assert vs.value == 0.915
    assert row(report, "metric auc ≥ floor").bar == "≥ 0.8"
    out = report.to_json()
    assert out["passed"] is True
    assert out["candidate"] == CAND_ID and out["live"] == LIVE_ID and out["eval_set"] == EV
    assert out["criteria"][0] == {
        "name": "eval result (candidate)",
        "value": "ev-cand",
        "bar": f"a result on {EV}",
        "passed": True,
        "detail": "",
    }
    json.dumps(out)


def test_floor_failure():
    report = evaluate_gate(policy(**AUC), CAND, scores(auc=0.79), None, None)
    assert not report.passed
    [fail] = report.failures()
    assert fail.name == "metric auc ≥ floor"
    assert "0.79 is below the floor 0.8" in fail.detail


def test_regression_vs_live_fails():
    live = scores("ev-live", auc=0.93)
    report = evaluate_gate(policy(**AUC), CAND, scores(auc=0.915), LIVE, live)
    [fail] = report.failures()
    assert fail.name == "metric auc vs live"
    assert fail.bar == "≥ 0.92 (live 0.93 − 0.01)"
    assert "0.015 worse than live" in fail.detail


def test_exact_allowed_drop_passes_despite_float_noise():
    # 0.93 - 0.01 == 0.9200000000000002 in floats; a candidate at 0.92 did not regress past the bar
    live = scores("ev-live", auc=0.93)
    report = evaluate_gate(policy(**AUC), CAND, scores(auc=0.92), LIVE, live)
    assert report.passed, report.failures()


def test_protected_slice_fails_while_aggregate_passes():
    p = policy(
        metrics=[{"name": "auc", "max_drop_vs_live": 0.01}],
        protected_slices={"names": ["new_users", "mobile"], "max_drop": 0.005, "min": 0.7},
    )
    cand = scores(auc=0.93, slices={"new_users": {"auc": 0.80}, "mobile": {"auc": 0.9}})
    live = scores("ev-live", auc=0.92, slices={"new_users": {"auc": 0.84}, "mobile": {"auc": 0.9}})
    report = evaluate_gate(p, CAND, cand, LIVE, live)
    assert row(report, "metric auc vs live").passed
    assert names(report)[3:7] == [
        "slice new_users auc ≥ floor",
        "slice new_users auc vs live",
        "slice mobile auc ≥ floor",
        "slice mobile auc vs live",
    ]
    [fail] = report.failures()
    assert fail.name == "slice new_users auc vs live"
    assert fail.bar == "≥ 0.835 (live 0.84 − 0.005)"


def test_protected_slice_floor_applies_with_nothing_live():
    p = policy(metrics=[{"name": "auc"}], protected_slices={"names": ["new_users"], "min": 0.85})
    cand = scores(auc=0.93, slices={"new_users": {"auc": 0.80}})
    report = evaluate_gate(p, CAND, cand, None, None)
    assert [c.name for c in report.failures()] == ["slice new_users auc ≥ floor"]
    assert "slice new_users auc vs live" not in names(report)


def test_protected_slice_missing_from_candidate():
    p = policy(metrics=[{"name": "auc"}], protected_slices={"names": ["new_users"]})
    report = evaluate_gate(p, CAND, scores(auc=0.9), LIVE, scores("ev-l", auc=0.9))
    [fail] = report.failures()
    assert fail.name == "slice new_users"
    assert "has no slice new_users" in fail.detail
    assert "new eval set with --slice new_users:auc=VALUE" in fail.detail


def test_protected_slice_missing_from_live():
    p = policy(metrics=[{"name": "auc"}], protected_slices={"names": ["new_users"]})
    cand = scores(auc=0.9, slices={"new_users": {"auc": 0.9}})
    report = evaluate_gate(p, CAND, cand, LIVE, scores("ev-live", auc=0.9))
    [fail] = report.failures()
    assert fail.name == "slice new_users auc vs live"
    assert "live result ev-live has no auc in slice new_users" in fail.detail


def test_lower_is_better_metric():
    p = policy(
        metrics=[{"name": "loss", "max": 0.5, "max_drop_vs_live": 0.02, "higher_is_better": False}]
    )
    live = scores("ev-live", loss=0.30)
    ok = evaluate_gate(p, CAND, scores(loss=0.31), LIVE, live)
    assert ok.passed, ok.failures()
    assert row(ok, "metric loss ≤ ceiling").bar == "≤ 0.5"
    assert row(ok, "metric loss vs live").bar == "≤ 0.32 (live 0.3 + 0.02)"
    # a lower loss than live is an improvement, not a drop
    assert evaluate_gate(p, CAND, scores(loss=0.1), LIVE, live).passed
    worse = evaluate_gate(p, CAND, scores(loss=0.33), LIVE, live)
    assert [c.name for c in worse.failures()] == ["metric loss vs live"]
    over = evaluate_gate(p, CAND, scores(loss=0.6), None, None)
    assert [c.name for c in over.failures()] == ["metric loss ≤ ceiling"]
    assert "above the ceiling 0.5" in over.failures()[0].detail


def test_min_and_max_together():
    p = policy(metrics=[{"name": "rate", "min": 0.1, "max": 0.3}])
    report = evaluate_gate(p, CAND, scores(rate=0.05), None, None)
    [fail] = report.failures()
    assert (fail.name, fail.bar) == ("metric rate within bounds", "≥ 0.1 and ≤ 0.3")


def test_missing_candidate_result_says_what_to_run():
    report = evaluate_gate(policy(**AUC), CAND, None, LIVE, scores("ev-live", auc=0.9))
    [fail] = report.failures()
    assert fail.name == "eval result (candidate)"
    assert fail.value is None
    assert f"mledger eval record {CAND_ID} --eval-set {EV} --metrics FILE" in fail.detail
    # metric rows are skipped rather than repeating the missing result
    assert not [n for n in names(report) if n.startswith("metric")]


def test_missing_live_result_says_what_to_run():
    report = evaluate_gate(policy(**AUC), CAND, scores(auc=0.9), LIVE, None)
    [fail] = report.failures()
    assert fail.name == "eval result (live)"
    assert f"mledger eval record {LIVE_ID} --eval-set {EV}" in fail.detail
    assert "metric auc ≥ floor" in names(report)
    assert "metric auc vs live" not in names(report)


def test_metric_missing_from_results():
    report = evaluate_gate(policy(**AUC), CAND, scores(f1=0.5, acc=0.9), None, None)
    fail = row(report, "metric auc")
    assert not fail.passed
    assert "has no metric auc (it has: acc, f1)" in fail.detail
    live = scores("ev-live", f1=0.5)
    report = evaluate_gate(policy(**AUC), CAND, scores(auc=0.9), LIVE, live)
    [fail] = report.failures()
    assert fail.name == "metric auc vs live"
    assert "live result ev-live has no metric auc" in fail.detail


def test_nothing_live_gates_on_floors_only():
    report = evaluate_gate(policy(**AUC), CAND, scores(auc=0.85), None, None)
    assert report.passed
    assert report.live is None
    assert names(report) == [
        "eval result (candidate)",
        "metric auc ≥ floor",
    ]


def test_live_result_not_required_when_nothing_compares():
    p = policy(metrics=[{"name": "auc", "min": 0.8}])
    report = evaluate_gate(p, CAND, scores(auc=0.85), LIVE, None)
    assert report.passed
    assert "eval result (live)" not in names(report)


def test_default_policy_needs_one_approver_and_four_eyes():
    assert DEFAULT_POLICY.approvals_needed == 1 and DEFAULT_POLICY.four_eyes
    assert DEFAULT_POLICY.approvers_from == ()


def test_the_gate_judges_evidence_only():
    report = evaluate_gate(DEFAULT_POLICY, CAND, None, None, None)
    assert report.criteria == ()
    assert report.passed


def test_approval_rows_count_the_approvers_given():
    p = parse_policy({"approvers": 2})
    [short, eyes] = approval_rows(p, ["dave"], "carol", "bob")
    assert not short.passed and short.value == "dave" and short.bar == "2 distinct"
    assert "2 approvals needed, 1 so far" in short.detail
    assert eyes.name == "four eyes" and eyes.value == "bob, carol" and eyes.passed
    [ok, _] = approval_rows(p, ["dave", "erin"], "carol", "bob")
    assert ok.passed
    relaxed = parse_policy({"approvers": 1, "four_eyes": False})
    assert [c.name for c in approval_rows(relaxed, ["x"], "a", "b")] == ["approvers"]


def test_approver_rule_names_who_counts():
    p = parse_policy({"approvers": {"count": 2, "from": ["group:risk", "user:carol"]}})
    assert p.approvals_needed == 2 and p.approvers_from == ("group:risk", "user:carol")
    [row_, _] = approval_rows(p, [], "a", "b")
    assert row_.bar == "2 distinct from group:risk, user:carol"
    # the integer form hashes as it always did; the mapping form keeps its key ``from``
    assert policy_json(parse_policy({"approvers": 1}))["approvers"] == 1
    assert policy_json(p)["approvers"] == {"count": 2, "from": ["group:risk", "user:carol"]}
    with pytest.raises(InvalidInput, match="group:NAME or user:NAME"):
        parse_policy({"approvers": {"count": 1, "from": ["risk"]}})
    with pytest.raises(InvalidInput, match="four eyes"):
        parse_policy({"approvers": {"count": 0}})


def test_typed_names_still_judge_a_traffic_split():
    p = parse_policy({"approvers": 2})
    for given_names in (["alice"], ["alice", "alice"], ["alice", "Alice "], ["alice", ""]):
        fail = named_approval_rows(p, CAND, given_names)[0]
        assert not fail.passed and fail.value == 1 and fail.bar == "2 distinct"
    assert all(c.passed for c in named_approval_rows(p, CAND, ["alice", "dave"]))
    [_, eyes] = named_approval_rows(DEFAULT_POLICY, CAND, ["BOB"])
    assert not eyes.passed and "bob registered fraud@3" in eyes.detail


@pytest.mark.parametrize(
    ("key", "field", "needle"),
    [
        ("clean_code", "clean_code", "dirty tree"),
        ("lock", "has_lock", "--lock"),
        ("data_pinned", "data_pinned", "--data"),
        ("reproducible", "reproducible", "seed not recorded"),
    ],
)
def test_requirements(key, field, needle):
    p = parse_policy({"require": {key: True}})
    assert evaluate_gate(p, CAND, None, None, None).passed
    bad = replace(CAND, **{field: False}, reproducibility_reasons=("seed not recorded",))
    report = evaluate_gate(p, bad, None, None, None)
    [fail] = report.failures()
    assert (fail.name, fail.value) == (f"require {key}", False)
    assert needle in fail.detail


def test_requirements_come_first_and_only_when_asked():
    p = policy(**AUC, require={"lock": True, "reproducible": True})
    report = evaluate_gate(p, CAND, scores(auc=0.9), None, None)
    assert names(report)[:3] == ["require lock", "require reproducible", "eval result (candidate)"]


_metric = st.floats(-1e6, 1e6, allow_nan=False)


@given(
    st.dictionaries(st.sampled_from(["auc", "f1", "loss"]), _metric, min_size=1),
    st.floats(0, 1e6),
    st.booleans(),
)
def test_equal_to_live_always_passes_vs_live(metrics, drop, higher):
    rules = [
        {"name": name, "max_drop_vs_live": drop, "higher_is_better": higher} for name in metrics
    ]
    p = policy(
        metrics=rules,
        protected_slices={"names": ["s"], "max_drop": drop},
        approvers=0,
        four_eyes=False,
    )
    cand = scores(slices={"s": dict(metrics)}, **metrics)
    live = scores("ev-live", slices={"s": dict(metrics)}, **metrics)
    report = evaluate_gate(p, CAND, cand, LIVE, live)
    vs_rows = [c for c in report.criteria if c.name.endswith("vs live")]
    assert len(vs_rows) == 2 * len(metrics)
    assert report.passed, report.failures()
