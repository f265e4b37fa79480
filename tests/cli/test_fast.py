"""The fast path for `audit prediction ID --json` answers exactly what the full CLI answers."""

import json

import pytest
from typer.testing import CliRunner

from modelledger.cli.app import app
from modelledger.cli.fast import answer
from modelledger.client import log_predictions
from modelledger.models.register import RegisterRequest, register
from modelledger.releases import environments as envs
from tests.conftest import write
from tests.people import promote_approved


@pytest.fixture
def logged(ledger, project):
    art = write(project / "m.bin", "w")
    vid = register(ledger, RegisterRequest(name="fraud", artifact=art, code_ref="x")).version.id
    envs.create(ledger, "production")
    promote_approved(ledger, vid, "production")
    log_predictions(
        [{"request_id": "r-1", "version_id": vid, "output": 1, "features": {"x": 2}}],
        "production",
        ledger,
    )
    ledger.close()  # the commands open the ledger themselves
    return vid


def test_fast_answer_equals_the_full_cli(logged, capsys):
    for argv in (
        ["audit", "prediction", "r-1", "--json"],
        ["audit", "prediction", "--json", "r-1"],
    ):
        assert answer(argv) == 0
        fast = json.loads(capsys.readouterr().out)
        full = CliRunner().invoke(app, argv, catch_exceptions=False)
        assert full.exit_code == 0
        assert fast == json.loads(full.stdout)
        assert fast["label"] == "fraud@1" and fast["promotion"]["approvers"] == ["bob"]


def test_fast_errors_like_the_full_cli(logged, capsys):
    assert answer(["audit", "prediction", "nope", "--json"]) == 2
    assert "no prediction with request id 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "prediction", "r-1"],  # human output: rich tables through the full CLI
        ["audit", "prediction", "--help", "--json"],
        ["audit", "prediction", "r-1", "--json", "--extra"],
        ["audit", "verify"],
        [],
    ],
)
def test_anything_else_goes_to_the_full_cli(argv):
    assert answer(argv) is None
