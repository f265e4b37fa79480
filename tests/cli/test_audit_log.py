"""`audit log` filters that tell the truth: references resolve as everywhere else, a filter
that matches nothing says so (and names the kinds there are), and time and actor filters."""

import pytest

from tests.conftest import churn_in_production, jrun


@pytest.fixture
def story(ledger_cli, project, monkeypatch):
    ids = churn_in_production(ledger_cli, project, 2, ("alice", "bob"), monkeypatch)
    return ledger_cli, ids


def _kinds(found):
    return [e["kind"] for e in found]


def test_subject_takes_refs_and_prefixes(story):
    cli, ids = story
    for ref in ("churn@2", ids[1][:10], ids[1], "churn@production"):
        found = jrun(cli, "audit", "log", "--subject", ref)
        assert found and {e["subject"] for e in found} == {ids[1]}, ref
        assert "model.registered" in _kinds(found)


def test_a_filter_that_matches_nothing_says_so(story):
    cli, _ = story
    out = cli("audit", "log", "--kind", "promote", code=2)
    assert "no event has kind 'promote'" in out.stderr
    assert "promotion" in out.stderr  # the kinds there are, the closest first
    out = cli("audit", "log", "--actor", "nobody")
    assert out.stdout.strip().startswith("no events match")
    assert jrun(cli, "audit", "log", "--actor", "nobody") == []


def test_since_until_and_actor(story):
    cli, _ = story
    assert {e["actor"] for e in jrun(cli, "audit", "log", "--actor", "bob")} == {"bob"}
    every = jrun(cli, "audit", "log")
    middle = every[1]["at"]
    later = jrun(cli, "audit", "log", "--since", middle)
    assert [e["seq"] for e in later] == [e["seq"] for e in every if e["at"] >= middle]
    earlier = jrun(cli, "audit", "log", "--until", middle)
    assert [e["seq"] for e in earlier] == [e["seq"] for e in every if e["at"] < middle]
    assert jrun(cli, "audit", "log", "--since", "1h") == every
    assert "--since" in cli("audit", "log", "--since", "yesterday", code=2).stderr


def test_an_empty_ledger_says_no_events_yet(ledger_cli):
    assert ledger_cli("audit", "log").stdout.strip() == "no events yet"


def test_a_known_kind_with_no_events_is_an_empty_answer(story):
    cli, _ = story
    assert jrun(cli, "audit", "log", "--kind", "predictions.imported") == []


def test_every_event_kind_is_declared(ledger):
    from modelledger.ledger import events

    with pytest.raises(ValueError, match="unknown event kind 'promote'"), ledger.db.write() as conn:
        events.append(conn, "promote", "x", "alice", "2026-01-01T00:00:00Z", {})
