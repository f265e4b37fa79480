"""`mledger init` never re-points an existing ledger at another database or store (its records
name what is there), and a store URL this machine cannot open is one `error:` line, at init and
at first use, never a traceback."""

from __future__ import annotations

import json

import pytest

from tests.conftest import write


def test_init_does_not_move_an_existing_ledger(cli, project):
    cli("init")
    said = cli("init", "--blobs", str(project / "elsewhere"), code=2).stderr
    assert said.startswith("error: ") and "init does not move it" in said
    said = cli("init", "--db", f"sqlite:///{project / 'other.db'}", code=2).stderr
    assert "already uses the database" in said
    assert not (project / ".mledger" / "config.json").exists()  # nothing was rewritten
    cli("init")  # the same settings again: idempotent


@pytest.mark.parametrize(
    "url, said",
    [("nosuch://bucket/x", "unknown protocol 'nosuch'"), ("s3://bucket/x", "Install s3fs")],
)
def test_a_store_this_machine_cannot_open_is_one_error_line(cli, project, url, said):
    pytest.importorskip("fsspec")
    if url.startswith("s3") and __import__("importlib").util.find_spec("s3fs"):
        pytest.skip("s3fs is installed here")
    out = cli("init", "--blobs", url, code=2).stderr
    assert out.strip().splitlines() == [
        f"error: blob store {url}: " + out.split(": ", 2)[2].strip()
    ]
    assert said in out and not (project / ".mledger").exists()
    # a ledger whose config names such a store (edited by hand) says so at first use
    cli("init")
    (project / ".mledger" / "config.json").write_text(json.dumps({"blob_url": url}))
    out = cli("data", "snapshot", str(write(project / "f.csv", "a\n1\n")), "--name", "f", code=2)
    assert out.stderr.startswith("error: blob store") and "Traceback" not in out.stderr
