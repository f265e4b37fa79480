"""``mledger data …`` as a user meets it: the recommender story, on both backends."""

import pytest

from tests.conftest import jrun, write

HEADER = "user_id,event_type,value\n"


def night(project, name, drop=None):
    kinds = ["click", "view", "cart", "buy"]
    rows = [f"{i},{kinds[i % 4]},{i}" for i in range(200) if kinds[i % 4] != drop]
    write(project / name / "events.csv", HEADER + "\n".join(rows) + "\n")
    return name


@pytest.mark.parametrize(
    "sub",
    ["snapshot", "show", "list", "checkout", "diff", "lineage", "card", "leakage", "affected"],
)
def test_every_data_command_has_help_and_json(cli, sub):
    text = cli("data", sub, "--help").stdout
    assert "Usage" in text and "--json" in text


def test_recommender_story_from_the_command_line(ledger_cli, project):
    n1 = jrun(ledger_cli, "data", "snapshot", night(project, "n1"), "--name", "interactions")
    n2 = jrun(
        ledger_cli, "data", "snapshot", night(project, "n2", "cart"), "--name", "interactions"
    )
    assert n1["created"] and n1["id"].startswith("ds-") and n1["id"] != n2["id"]
    human = ledger_cli("data", "diff", n1["id"][:10], n2["id"][:10]).stdout
    first_finding = human.splitlines()[2]
    assert "category 'cart' of column event_type vanished" in first_finding
    data = jrun(ledger_cli, "data", "diff", n1["id"], n2["id"])
    assert data["findings"][0]["kind"] == "category_vanished"
    listed = jrun(ledger_cli, "data", "list", "--name", "interactions")
    assert {s["id"] for s in listed} == {n1["id"], n2["id"]}


def test_lineage_card_and_checkout(ledger_cli, project):
    raw = jrun(ledger_cli, "data", "snapshot", night(project, "raw"), "--name", "raw")
    write(project / "card.yaml", "sources:\n  - name: clickstream\n    pii: false\n")
    write(project / "clean.py", "print('dedupe')\n")
    clean = jrun(
        ledger_cli,
        "data",
        "snapshot",
        night(project, "clean", "buy"),
        "--name",
        "clean",
        "--from",
        raw["id"],
        "--step",
        "dedupe",
        "--code",
        "clean.py",
        "--param",
        "k=3",
        "--card",
        "card.yaml",
    )
    assert clean["transform"]["params"] == {"k": 3} and clean["card_revision"] == 1
    graph = jrun(ledger_cli, "data", "lineage", raw["id"])
    assert graph["downstream"][0]["output"] == clean["id"]
    assert "dedupe" in ledger_cli("data", "lineage", clean["id"]).stdout
    card = jrun(ledger_cli, "data", "card", clean["id"])
    assert card["card"]["hash"].startswith("sha256:") and card["revision"] == 1
    assert "clickstream" in ledger_cli("data", "card", clean["id"], "--format", "markdown").stdout
    out = jrun(ledger_cli, "data", "checkout", clean["id"], "co")
    assert out["files"] == 1 and (project / "co" / "events.csv").exists()
    err = ledger_cli("data", "checkout", clean["id"], "co", code=2).stderr
    assert err.startswith("error: ") and "--force" in err and err.count("\n") == 1
    ledger_cli("data", "checkout", clean["id"], "co/events.csv", code=2)


def test_leakage_exits_1_on_overlap(ledger_cli, project):
    train = jrun(ledger_cli, "data", "snapshot", night(project, "train"), "--name", "train")
    write(project / "ev" / "eval.csv", HEADER + "5,view,5\n999,buy,1\n")
    ev = jrun(ledger_cli, "data", "snapshot", "ev", "--name", "eval")
    result = jrun(ledger_cli, "data", "leakage", "--eval", ev["id"], "--train", train["id"], code=1)
    assert result["overlapping_rows"] == 1
    assert (
        "LEAK"
        in ledger_cli("data", "leakage", "--eval", ev["id"], "--train", train["id"], code=1).stdout
    )
    write(project / "ev2" / "eval.csv", HEADER + "999,buy,1\n")
    ev2 = jrun(ledger_cli, "data", "snapshot", "ev2", "--name", "eval")
    assert not jrun(ledger_cli, "data", "leakage", "--eval", ev2["id"], "--train", train["id"])[
        "leak"
    ]


def test_affected_by_record(ledger_cli, project):
    snap = jrun(ledger_cli, "data", "snapshot", night(project, "n1"), "--name", "interactions")
    found = jrun(ledger_cli, "data", "affected", "--record", "user_id=7")
    assert [s["id"] for s in found["snapshots"]] == [snap["id"]]
    assert "no snapshot holds" in ledger_cli("data", "affected", "--record", "user_id=7000").stdout


def test_bad_input_is_one_line_and_stores_nothing(ledger_cli, project):
    for args in (
        ["data", "snapshot", "missing", "--name", "x"],
        ["data", "snapshot", night(project, "n1"), "--name", "x", "--step", "dedupe"],
        ["data", "diff", "ds-0000", "ds-1111"],
        ["data", "affected"],
    ):
        err = ledger_cli(*args, code=2).stderr
        assert err.startswith("error: ") and err.count("\n") == 1, err
    assert jrun(ledger_cli, "data", "list") == []
