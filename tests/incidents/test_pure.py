"""The incident's rules without a ledger: replay, the runbook's order, the timeline, and the
regression slice a prevention adds to a gate policy."""

import pytest

from modelledger.core.errors import InvalidInput
from modelledger.core.events import Event
from modelledger.incidents.incident import (
    duration_text,
    parse_incident_id,
    replay,
    require_step,
    timeline,
)
from modelledger.incidents.regression import (
    amended_card,
    choose_place,
    metric_and_floor,
    slice_name,
    with_regression_slice,
)
from modelledger.releases.gate import parse_policy

ES = "ds-" + "a" * 64


def _event(seq, step, at, **payload):
    return Event(seq, f"incident.{step}", "inc-1", "carol", at, payload, "", "")


OPENED = _event(
    3, "opened", "2026-03-01T10:05:00.000000Z",
    env="production", version_id="mv-x", label="m@2", detected_at="2026-03-01T10:00:00.000000Z",
    alert_event=2, reason=None,
)  # fmt: skip


def test_replay_and_the_runbooks_order():
    other = Event(4, "rollback", "production", "bob", "2026-03-01T10:06:00.000000Z", {}, "", "")
    incident = replay("inc-1", [OPENED, other])
    assert (incident.env, incident.version_id, incident.status) == ("production", "mv-x", "opened")
    with pytest.raises(InvalidInput, match="not contained yet: run `mledger incident contain"):
        require_step(incident, "assessed")
    require_step(incident, "contained")
    shadow = _event(5, "recovered", "2026-03-01T11:00:00.000000Z", stage="shadow")
    # a shadow alone is no recovery: prevention waits for the canary
    assert not replay("inc-1", [OPENED, shadow]).done("recovered")
    canary = _event(6, "recovered", "2026-03-01T11:30:00.000000Z", stage="canary")
    assert replay("inc-1", [OPENED, shadow, canary]).done("recovered")
    with pytest.raises(ValueError):
        replay("inc-2", [OPENED])


def test_timeline_durations_run_from_detection():
    contained = _event(
        7, "contained", "2026-03-01T10:07:30.000000Z",
        from_label="m@2", to_label="m@1", rehearsal=5, **{"from": "mv-x", "to": "mv-y"},
    )  # fmt: skip
    rows = timeline(replay("inc-1", [OPENED, contained]))
    assert [r["step"] for r in rows] == ["detected", "opened", "contained"]
    assert [r["since_previous_s"] for r in rows] == [None, 300.0, 150.0]
    assert rows[2]["since_detection_s"] == 450.0
    assert rows[1]["summary"] == "production: m@2; drift_alert #2"
    assert rows[2]["summary"] == "rolled back m@2 → m@1 after rehearsal #5"
    assert [duration_text(s) for s in (None, 2.5, 450, 7260, 90000)] == [
        "", "2.5 s", "7 min 30 s", "2 h 01 min", "1 d 1 h",
    ]  # fmt: skip


def test_incident_ids():
    assert parse_incident_id("3") == parse_incident_id("inc-3") == "inc-3"
    for bad in ("inc-0", "x", "inc-", "-1"):
        with pytest.raises(InvalidInput):
            parse_incident_id(bad)


def test_the_regression_slice_is_added_and_never_loosens_a_floor():
    policy = {
        "eval_set": "ds-" + "b" * 64,
        "metrics": [{"name": "auc", "min": 0.7}],
        "protected_slices": {"names": ["new_users"], "min": 0.9},
        "approvers": 1,
    }
    assert metric_and_floor(policy, None, None) == ("auc", 0.9)
    assert metric_and_floor({"metrics": [{"name": "auc", "min": 0.7}]}, None, None) == ("auc", 0.7)
    with pytest.raises(InvalidInput, match="--min"):
        metric_and_floor({"metrics": [{"name": "auc"}]}, None, None)
    with pytest.raises(InvalidInput, match="--metric"):
        metric_and_floor({}, None, 0.5)
    found = with_regression_slice(policy, ES, "inc-1", "auc", 0.8)
    assert found["eval_set"] == ES
    assert found["protected_slices"] == {"names": ["new_users", "inc-1"], "min": 0.9}
    parse_policy(found)  # still a valid gate policy
    added = with_regression_slice({"approvers": 1}, ES, "inc-1", "recall", 0.6)
    assert added["metrics"] == [{"name": "recall", "higher_is_better": True}]
    assert parse_policy(added).protected_slices.names == ["inc-1"]


def test_place_slice_name_and_card():
    with pytest.raises(InvalidInput, match="no place"):
        choose_place({"places": []}, 1)
    with pytest.raises(InvalidInput, match="ranked 1"):
        choose_place({"places": [{"where": "a"}]}, 2)
    assert slice_name(None, "inc-4") == "inc-4"
    with pytest.raises(InvalidInput):
        slice_name("a:b", "inc-4")
    card = amended_card({"known_limitations": ["old"], "label": "y"}, "new")
    assert card == {"known_limitations": ["old", "new"], "label": "y"}
    assert amended_card(card, "new") == card
