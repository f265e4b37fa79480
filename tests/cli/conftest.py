"""Running the CLI in-process as a user would, from the project folder."""

import json

import pytest
from typer.testing import CliRunner

from modelledger.cli.app import app


@pytest.fixture
def cli(project, monkeypatch):
    monkeypatch.chdir(project)
    for var in ("MLEDGER_HOME", "MLEDGER_DB_URL", "MLEDGER_BLOB_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLEDGER_USER", "carol")
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == code, (
            f"{args}: exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result

    return run


@pytest.fixture
def ledger_cli(cli, db_url):
    cli("init", *(["--db", db_url] if db_url else []))
    return cli


def jrun(cli, *args, code=0):
    return json.loads(cli(*args, "--json", code=code).stdout)
