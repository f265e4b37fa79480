"""`mledger demo` end to end: what it prints, and what the ledger holds afterwards."""

import sys

from typer.testing import CliRunner

from modelledger.cli.app import app
from modelledger.ledger import events
from modelledger.ledger.audit import verify
from modelledger.ledger.home import open_ledger
from modelledger.models.reads import get_version
from modelledger.models.systems import diff as system_diff
from modelledger.models.systems import list_systems
from modelledger.releases import environments
from modelledger.settings import Settings


def _output_of(out: str, command: str) -> str:
    """What `$ mledger COMMAND` printed, up to the next command or narration."""
    after = out.split(f"$ mledger {command}", 1)[1]
    return after.split("\n$ ", 1)[0].split("\n# ", 1)[0]


def test_demo_plays_the_whole_story(tmp_path, monkeypatch):
    for var in ("MLEDGER_HOME", "MLEDGER_DB_URL", "MLEDGER_BLOB_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLEDGER_USER", "demo")
    monkeypatch.setenv("COLUMNS", "120")  # the gate's table, not its narrow-terminal layout
    home = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--dir", str(home)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout

    # night 2 fails the gate on the protected slice alone; nights 1 and 3 go live
    gate = _output_of(out, "gate check delay@2 --env production")
    assert "delay@2 FAILS the production gate" in gate and gate.rstrip().endswith("(exit 1)")
    assert "✗ slice new_routes accuracy vs live" in gate and gate.count("│ FAIL") == 1
    assert "promoted delay@3 to production" in out
    # a real server answered, and every answer was logged with its version
    assert "serving production (delay@3" in out
    assert "the inference log holds all 300 answers" in out
    # night 4: the diff names the vanished carrier; drift alerts on the slice (exit 1)
    assert "!! category 'dhl' of column carrier vanished" in out
    drift = _output_of(out, "drift check production --window 1h")
    assert "slice new_routes accuracy" in drift and drift.rstrip().endswith("(exit 1)")
    assert (home / "drift-report.html").exists()
    assert "inc-1 contained: production delay@3 → delay@1" in out  # the runbook, step by step
    assert "inc-1 diagnosed: drift" in out and "delay-gbm@1 canary at 10 %" in out
    assert "inc-1 production delay@3: prevented" in _output_of(out, "incident show inc-1")
    assert "reproduced delay@1 bitwise" in _output_of(out, "reproduce delay@1")
    # the auditor's answer names the version, its data's sources and the approver
    audit = _output_of(out, "audit prediction d3-")
    assert "delay@3" in audit and "tms-shipments-export" in audit and "approved by dana" in audit
    assert "model versions to retrain" in _output_of(out, "data affected --record customer_id=C-")
    assert "base: tiny-llm@1" in _output_of(out, "model lineage support-adapter@1")
    assert "changed index:" in _output_of(out, "system diff rag@1 rag@2")
    assert "chain intact" in _output_of(out, "audit verify")
    assert f"The ledger is in {home / '.mledger'}" in out

    with open_ledger(Settings(home=home)) as ledger:
        night = {n: get_version(ledger, f"delay@{n}").id for n in (1, 2, 3)}
        moves = environments.history(ledger, "production")
        assert [(m["action"], m["id"]) for m in moves] == [
            ("promote", night[1]),
            ("promote", night[3]),
            ("rollback", night[1]),
        ]  # night 2 was never live; the rollback target is
        assert moves[-1]["approvers"] == ["dana"]
        with ledger.db.read() as conn:
            alerts = events.listing(conn, kind="drift_alert")
            retrain = events.listing(conn, kind="retrain_triggered")
        assert any(a.subject == night[3] and a.payload["name"] == "new_routes" for a in alerts)
        assert [r.subject for r in retrain] == [night[3]]
        rag = list_systems(ledger, "rag")
        assert len({s.id for s in rag}) == 2
        changed = system_diff(ledger, "rag@1", "rag@2")["changed"]
        assert [c["key"] for c in changed] == ["index"]
        assert verify(ledger).ok


def test_without_scikit_learn_the_demo_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if it were not installed
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: the demo trains scikit-learn models: pip install 'modelledger[demo]'"
    )
    assert not (tmp_path / "demo").exists()  # nothing was started


def test_the_demo_wants_a_fresh_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not empty; the story needs a fresh folder" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
