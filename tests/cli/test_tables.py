"""Tables keep the answer at 80 columns and through a pipe: no id cut silently, the answer column
never squeezed to a few characters, no column dropped (issue: what a new user hit, item 2)."""

import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from modelledger.cli.app import app
from modelledger.console.output import WRAP_MIN
from tests.conftest import jrun, write
from tests.people import key_file, promote_via_cli

REASON = "rolled back because new-route deliveries were late: drift alert on new_routes"
REPO = "git+https://git.example.com/logistics-platform/delay-prediction-training-pipeline"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _squash(text):
    """The text without whitespace and table rules, so a value folded over lines reads whole."""
    return re.sub(r"[\s│┃━╇─┼╋]+", "", text)


@pytest.fixture
def story(ledger_cli, project):
    cli = ledger_cli
    write(project / "card.yaml", "sources:\n  - {name: tms-shipments-export, owner: data-team}\n")
    ids = {}
    for n in (1, 2):
        data = write(project / f"d{n}" / "rows.csv", f"a,b\n{n},2\n")
        ids[f"ds{n}"] = jrun(cli, "data", "snapshot", str(data), "--name", f"shipments-{n}",
                             "--card", "card.yaml")["id"]  # fmt: skip
        art = write(project / f"m{n}.bin", f"w{n}")
        ids[f"mv{n}"] = jrun(cli, "model", "register", "delay-prediction-gbm", "-a", str(art),
                             "--code-ref", f"{REPO}@{COMMIT}", "-d", f"{ids[f'ds{n}']}:train",
                             "-p", f"n={n}")["id"]  # fmt: skip
    cli("env", "create", "production-eu-west")
    write(project / "policy.yaml", "approvers: 1\n")
    cli("env", "policy", "production-eu-west", "policy.yaml")
    for ref in ("delay-prediction-gbm@1", "delay-prediction-gbm@2"):
        promote_via_cli(
            cli, project, ref, "production-eu-west", approvers=("a-long-approver-name",)
        )
    approver_key = str(key_file(project, "a-long-approver-name"))
    cli("rollback", "production-eu-west", "--key", approver_key, "--reason", REASON)
    cli("model", "tag", "delay-prediction-gbm@2", "stage=production-candidate", "team=logistics")
    ids["sys"] = jrun(cli, "system", "create", "rag", "--component", f"generator={ids['mv1']}",
                      "--component", f"index={ids['ds1']}")["id"]  # fmt: skip
    return ids


def _at_80(*args):
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"}, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _piped(project, *args):
    done = subprocess.run(
        [sys.executable, "-m", "modelledger.cli.app", *args],
        cwd=project, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


# Laying a table out does not depend on the database: these run on SQLite only (the timestamp
# test below, whose values come back differently from each driver, runs on both).
SQLITE = pytest.mark.parametrize("backend", ["sqlite"])


@SQLITE
@pytest.mark.parametrize("how", ["80 columns", "pipe"])
def test_tables_keep_the_answer(story, project, how):
    show = _at_80 if how == "80 columns" else (lambda *a: _piped(project, *a))
    history = show("env", "history", "production-eu-west")
    assert _squash(REASON) in _squash(history)  # the answer, whole
    assert any(REASON[:WRAP_MIN] in line for line in history.splitlines())  # and not squeezed
    for column in ("#", "action", "reason"):
        assert column in history
    assert max(len(line) for line in history.splitlines()) <= (80 if how == "80 columns" else 120)

    affected = show("data", "affected", "--source", "tms-shipments-export")
    for key in ("ds1", "ds2"):
        assert story[key][:15] in affected  # a unique prefix, never "ds-…"
    assert "ds-…" not in affected

    lineage = show("model", "lineage", "delay-prediction-gbm@2")
    assert COMMIT in _squash(lineage) and story["ds2"] in _squash(lineage)

    system = show("system", "show", "rag@1")
    assert "component" in system and "generator" in system and "index" in system
    for out in (history, affected, lineage, system):
        assert "…" not in out.replace("ds-…", "")  # nothing cut with an ellipsis


@SQLITE
def test_a_table_too_wide_for_the_terminal_becomes_blocks(story):
    history = _at_80("env", "history", "production-eu-west")
    assert "reason:" in history and "action:" in history  # one block per row, keys named


@SQLITE
@pytest.mark.parametrize(
    "args",
    [
        ["model", "list"],
        ["model", "search", "--param", "n>=1", "--tag", "stage"],
        ["data", "list"],
        ["env", "list"],
        ["env", "show", "production-eu-west"],
        ["system", "list"],
        ["audit", "log"],
        ["gate", "check", "delay-prediction-gbm@2", "--env", "production-eu-west"],
    ],
)
def test_every_table_fits_80_columns_without_cutting(story, args):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"}, catch_exceptions=False)
    out = result.stdout
    assert out.strip(), args
    rows = [line for line in out.splitlines() if set(line) & set("│┃━")]  # the tables' own lines
    assert all(len(line.rstrip()) <= 80 for line in rows), out
    assert "…" not in out, out


def test_one_timestamp_format_in_human_output(story):
    iso = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")
    other = re.compile(r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?!:\d\dZ)|\d\d:\d\d:\d\d\.\d+|\bUTC\b")
    for args in (
        ["env", "history", "production-eu-west"],
        ["env", "show", "production-eu-west"],
        ["audit", "log"],
        ["model", "list"],
        ["model", "search", "--param", "n"],
        ["model", "show", "delay-prediction-gbm@1"],
        ["data", "list"],
        ["system", "list"],
        ["system", "show", "rag@1"],
    ):
        out = CliRunner().invoke(app, args, env={"COLUMNS": "200"}).stdout
        assert iso.search(out), (args, out)
        assert not other.search(out), (args, out)


@SQLITE
def test_wide_shows_whole_ids(story):
    narrow = CliRunner().invoke(app, ["model", "list"], env={"COLUMNS": "80"}).stdout
    wide = CliRunner().invoke(app, ["--wide", "model", "list"], env={"COLUMNS": "80"}).stdout
    assert story["mv1"][:15] in narrow and story["mv1"] not in narrow
    assert story["mv1"] in _squash(wide) and "…" not in wide  # whole, folded at the edge
