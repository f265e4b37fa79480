"""References a person types for a version: a bare name points at what to type instead, and
NAME@latest reads the newest version where only reading happens, never where something is pinned."""

import pytest

from modelledger.core.errors import InvalidInput
from modelledger.releases.environment import validate_env_name
from tests.conftest import churn_in_production, jrun
from tests.people import key_file


@pytest.fixture
def churn(ledger_cli, project):
    return ledger_cli, churn_in_production(ledger_cli, project, 3)


def test_a_bare_name_says_what_to_type(churn):
    cli, _ = churn
    for args in (["model", "show", "churn"], ["model", "lineage", "churn"]):
        err = cli(*args, code=2).stderr
        assert "'churn' is a model name" in err
        assert "churn@3 (the newest)" in err and "churn@production" in err


def test_latest_reads_the_newest_version(churn):
    cli, ids = churn
    assert jrun(cli, "model", "show", "churn@latest")["id"] == ids[2]
    assert jrun(cli, "model", "lineage", "churn@latest")["id"] == ids[2]
    assert jrun(cli, "model", "verify", "churn@latest")["ok"]


def test_latest_is_refused_where_something_is_pinned(churn, project):
    cli, _ = churn
    key = str(key_file(project, "carol"))
    err = cli("promote", "churn@latest", "--to", "production", "--key", key, code=2).stderr
    assert "churn@latest floats" in err
    err = cli("route", "set", "production", "--arm", "churn@latest=100", "--key", key, code=2)
    assert "floats" in err.stderr


def test_latest_is_no_environment_name():
    with pytest.raises(InvalidInput, match="latest"):
        validate_env_name("latest")


def test_a_floating_base_or_parent_is_refused_before_the_tree_is_read(ledger_cli, project):
    """The refusal names what to type, even in a dirty tree (which would otherwise be the
    error shown, and fixing it would only lead to this one)."""
    import subprocess

    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / "untracked.py").write_text("print('never added')\n")
    art = project / "m.bin"
    art.write_bytes(b"weights")
    out = ledger_cli(
        "model", "register", "m", "-a", str(art), "--base-model", "llama@latest", code=2
    )
    assert "pin it as a version" in out.stderr and "dirty" not in out.stderr
    out = ledger_cli("model", "register", "m", "-a", str(art), "--parent", "m@latest", code=2)
    assert "@latest floats" in out.stderr and "dirty" not in out.stderr
