"""Checkpoints and proofs: what `audit prove` writes, `python -m modelledger.verify` checks
without the ledger (standard library and cryptography only), and nothing altered verifies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelledger import verify
from modelledger.core.checkpoint import fingerprint
from tests.ledger.tamper_kit import Copy


def _standalone(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The verifier as an auditor runs it, and proof that it loaded no database code."""
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['verify', {str(path)!r}, *{list(extra)!r}]\n"
        "try:\n    runpy.run_module('modelledger.verify', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    heavy = sorted(m for m in ('sqlalchemy', 'psycopg', 'fastapi', 'duckdb', 'yaml')"
        " if m in sys.modules)\n"
        "    assert not heavy, heavy\n    raise\n"
    )
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)


def _doc(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_inclusion_proof_checks_offline_and_nothing_altered_does(
    ledger_copy: Copy, tmp_path: Path
) -> None:
    proof = tmp_path / "p.json"
    ledger_copy.run("audit", "prove", "--event", "3", "-o", str(proof))
    doc = _doc(proof)
    size = doc["checkpoint"]["checkpoint"]["size"]
    assert len(doc["path"]) <= size.bit_length()
    done = _standalone(proof)
    assert done.returncode == 0, done.stderr
    assert (
        "event 3" in done.stdout
        and fingerprint(doc["checkpoint"]["checkpoint"]["key"]) in done.stdout
    )
    key = doc["checkpoint"]["checkpoint"]["key"]
    assert _standalone(proof, "--public-key", key).returncode == 0
    for change in (
        lambda d: d["event"].update(actor="mallory"),  # the event's contents
        lambda d: d["event"]["payload"].update(extra=1),
        lambda d: d.update(path=d["path"][:-1]),  # a shortened path
        lambda d: d.update(path=["00" * 32, *d["path"][1:]]),
        lambda d: d["checkpoint"]["checkpoint"].update(root="11" * 32),  # signature breaks
        lambda d: d.update(index=d["index"] + 1),
    ):
        bent = json.loads(json.dumps(doc))
        change(bent)
        with pytest.raises(verify.Refused):
            verify.check(bent, None)
    stranger = "ed25519:" + "22" * 32
    with pytest.raises(verify.Refused, match="not by"):
        verify.check(doc, stranger)


def test_consistency_proof_from_an_earlier_checkpoint(ledger_copy: Copy, tmp_path: Path) -> None:
    grown = tmp_path / "grow.json"
    ledger_copy.run("model", "tag", "churn@2", "stage=canary")
    ledger_copy.run("audit", "prove", "--from", str(ledger_copy.checkpoint), "-o", str(grown))
    done = _standalone(grown)
    assert done.returncode == 0, done.stderr
    doc = _doc(grown)
    assert doc["new"]["checkpoint"]["size"] > doc["old"]["checkpoint"]["size"]
    later = tmp_path / "later.json"
    later.write_text(json.dumps(doc["new"]))
    assert ledger_copy.verify("--checkpoint", str(later))["ok"] is True
    # a forked history: the same old checkpoint against a log rewritten afterwards
    bent = json.loads(json.dumps(doc))
    bent["path"][0] = "33" * 32
    with pytest.raises(verify.Refused):
        verify.check(bent, None)


def test_a_logged_prediction_is_proved_row_by_row(ledger_copy: Copy, tmp_path: Path) -> None:
    proof = tmp_path / "row.json"
    ledger_copy.run("audit", "prove", "--request", "r3", "-o", str(proof))
    done = _standalone(proof)
    assert done.returncode == 0, done.stderr
    assert "prediction r3" in done.stdout and "of that batch's 6" in done.stdout
    doc = _doc(proof)
    bent = json.loads(json.dumps(doc))
    i = bent["row"]["columns"].index("output_json")
    bent["row"]["values"][i] = '{"p":0.99}'
    with pytest.raises(verify.Refused, match="not one of the batch"):
        verify.check(bent, None)


def test_a_checkpoint_alone_and_bad_requests(ledger_copy: Copy, tmp_path: Path) -> None:
    done = _standalone(ledger_copy.checkpoint)
    assert done.returncode == 0 and "signed by" in done.stdout
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    assert _standalone(junk).returncode == 1
    out = ledger_copy.run("audit", "prove", code=2)
    del out
    ledger_copy.run("audit", "prove", "--event", "100000", code=2)
    ledger_copy.run("audit", "prove", "--request", "nobody", code=2)
    ledger_copy.run("audit", "verify", "--checkpoint", str(junk), code=2)
