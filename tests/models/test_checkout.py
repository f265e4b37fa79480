"""`mledger model checkout`: a version's artifact out of the store, a file under the name it was
registered with and a folder's files as they were, every byte checked on the way (both backends)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from modelledger.models.checkout import artifact_name
from tests.conftest import write


@pytest.fixture
def registered(ledger_cli, project):
    cli = ledger_cli
    write(project / "model.pkl", b"weights")
    folder = project / "ft"
    write(folder / "config.json", "{}")
    write(folder / "weights" / "part-0.bin", os.urandom(5000))
    write(folder / "run.sh", "#!/bin/sh\n").chmod(0o755)
    for args in (["--artifact", "model.pkl"], ["--artifact", "ft"]):
        cli("model", "register", "churn", *args, "--code-ref", "git@x:churn#1")
    return cli, folder


def test_a_file_and_a_folder_come_back_as_they_were_registered(registered, project):
    cli, folder = registered
    said = cli("model", "checkout", "churn@1", "out1").stdout
    assert "checked out churn@1 into out1/model.pkl (1 file, 7 bytes" in said
    assert (project / "out1" / "model.pkl").read_bytes() == b"weights"
    shown = json.loads(cli("model", "checkout", "churn@2", "out2", "--json").stdout)
    assert shown["kind"] == "tree" and shown["files"] == 3 and shown["label"] == "churn@2"
    for p in folder.rglob("*"):
        if p.is_file():
            assert (project / "out2" / p.relative_to(folder)).read_bytes() == p.read_bytes()
    assert (project / "out2" / "run.sh").stat().st_mode & stat.S_IXUSR


def test_a_changed_byte_in_the_store_writes_nothing(registered, project, ledger):
    cli, _ = registered
    sha = ledger.blobs.path(
        json.loads(cli("model", "show", "churn@1", "--json").stdout)["tuple"]["artifact"]["sha256"]
    )
    os.chmod(sha, 0o644)
    with open(sha, "r+b") as f:
        f.write(b"W")
    refused = cli("model", "checkout", "churn@1", "out", code=1)
    assert "corrupt" in refused.stderr and not (project / "out" / "model.pkl").exists()


def test_refusals(registered, project):
    cli, _ = registered
    write(project / "full" / "x", "x")
    assert "not empty" in cli("model", "checkout", "churn@1", "full", code=2).stderr
    cli("model", "checkout", "churn@1", "full", "--force")
    assert (project / "full" / "model.pkl").exists() and (project / "full" / "x").exists()
    assert "churn@9" in cli("model", "checkout", "churn@9", "o", code=2).stderr
    write(project / "afile", "x")
    assert "is a file" in cli("model", "checkout", "churn@1", "afile", code=2).stderr


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("/home/a/model.pkl", "model.pkl"),
        ("upload:model.pkl", "model.pkl"),
        ("upload:../../etc/passwd", "passwd"),
        ("C:\\models\\m.onnx", "m.onnx"),
        ("upload:", "artifact"),
        ("upload:..", "artifact"),
        ("upload:a/..", "artifact"),
        (None, "artifact"),
    ],
)
def test_the_artifact_name_is_a_plain_file_name(source, name):
    assert artifact_name({"artifact_source": source} if source is not None else {}) == name
