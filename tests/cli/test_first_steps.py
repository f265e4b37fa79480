"""What a new user tries first: --version and -h, init honouring the team's settings, a nested
init, and a serve whose port is taken."""

import json
import socket
import subprocess
import sys

import modelledger
from tests.conftest import jrun


def test_version_and_short_help(cli):
    assert cli("--version").stdout.strip() == f"mledger {modelledger.__version__}"
    assert "Usage" in cli("-h").stdout
    assert "Usage" in cli("model", "-h").stdout


def test_init_takes_the_database_and_blobs_from_the_environment(
    cli, project, tmp_path, monkeypatch
):
    db = tmp_path / "team" / "ledger.db"
    db.parent.mkdir()
    blobs = tmp_path / "team" / "blobs"
    monkeypatch.setenv("MLEDGER_DB_URL", f"sqlite:///{db}")
    monkeypatch.setenv("MLEDGER_BLOB_URL", str(blobs))
    found = jrun(cli, "init")
    assert found["db_url"] == f"sqlite:///{db}" and found["blob_url"] == str(blobs)
    assert db.exists() and not (project / ".mledger" / "ledger.db").exists()
    # the settings stay with the ledger: without the variables, commands find the same ledger
    monkeypatch.delenv("MLEDGER_DB_URL")
    monkeypatch.delenv("MLEDGER_BLOB_URL")
    assert jrun(cli, "model", "list") == []
    stored = json.loads((project / ".mledger" / "config.json").read_text())
    assert stored == {"db_url": f"sqlite:///{db}", "blob_url": str(blobs)}


def test_a_nested_init_warns_that_it_hides_the_parent(cli, project):
    cli("init")
    inner = project / "sub" / "dir"
    inner.mkdir(parents=True)
    out = cli("init", str(inner))
    assert f"hides the ledger at {project / '.mledger'}" in out.stderr
    again = cli("init", str(inner))  # already there: nothing new to warn about
    assert "hides" not in again.stderr


def test_serve_on_a_busy_port_is_one_line_and_exit_2(ledger_cli, project):
    cli = ledger_cli
    cli("env", "create", "production")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "modelledger.cli.app", "serve", "production", "--port", str(port)],
            cwd=project, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"error: port {port} on 127.0.0.1 is in use"
    assert "serving" not in done.stdout
