"""`mledger reproduce` on SQLite and PostgreSQL (S12): a scikit-learn version trained by a script
through `ml.run` is rebuilt bitwise from its tuple; a deliberately non-deterministic one differs
in its bytes and is reproduced behaviourally on its eval set; versions whose code or lock cannot
be had are refused, naming the element; each outcome is an event that `model show` shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import jrun, write

pytest.importorskip("sklearn")

TRAIN = """
import pickle, sys, time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from modelledger import client as ml

snap, holdout, noisy = sys.argv[1], sys.argv[2], "--noisy" in sys.argv
with ml.run("churn", data=[snap]) as run:
    ml.checkout(snap, "data", force=True)
    rows = np.loadtxt("data/train.csv", delimiter=",", skiprows=1)
    model = LogisticRegression(random_state=run.seed).fit(rows[:, :2], rows[:, 2].astype(int))
    if noisy:  # not deterministic: the clock nudges the weights far below any decision
        model.intercept_ = model.intercept_ + (time.time_ns() % 997 + 1) * 1e-12
    Path("model.pkl").write_bytes(pickle.dumps(model))
    version = run.log_model(
        "model.pkl", loader="pickle", card={"inputs": {"a": "float", "b": "float"}}
    )
    test = np.loadtxt(sys.argv[3], delimiter=",", skiprows=1)
    accuracy = float((model.predict(test[:, :2]) == test[:, 2]).mean())
    ml.record_eval(version.id, holdout, {"accuracy": accuracy})
print(version.id)
"""


def _git(project: Path, *args: str) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, *args], cwd=project, check=True, capture_output=True)


def _table(path: Path, n: int, shift: float = 0.0) -> Path:
    lines = ["a,b,label"]
    for i in range(n):
        a, b = (i * 37 % 101) / 10 + shift, (i * 53 % 89) / 10
        lines.append(f"{a},{b},{int(a + b > 9.5)}")
    return write(path, "\n".join(lines) + "\n")


@pytest.fixture
def trained(ledger_cli, project):
    """A git project whose train.py (committed) trains on a snapshot and scores on an eval set."""
    cli = ledger_cli
    write(project / "train.py", TRAIN)
    write(project / ".gitignore", ".mledger/\ndata/\nmodel.pkl\nraw/\nholdout/\n")
    _git(project, "init", "-q")
    _git(project, "add", "train.py", ".gitignore")
    _git(project, "commit", "-qm", "train")
    snap = jrun(
        cli, "data", "snapshot", str(_table(project / "raw" / "train.csv", 200)), "--name", "train"
    )["id"]
    test = _table(project / "holdout" / "test.csv", 80, shift=0.3)
    holdout = jrun(cli, "eval", "set", "create", "holdout", str(test))["id"]

    def train(*extra: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDGER_")}
        done = subprocess.run(
            [sys.executable, "train.py", snap, holdout, str(test), *extra],
            cwd=project, env={**env, "MLEDGER_USER": "alice"}, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    return cli, train


def test_a_deterministic_version_reproduces_bitwise(trained, project):
    cli, train = trained
    vid = train()
    plan = jrun(cli, "reproduce", vid, "--dry-run")
    assert plan["runnable"], plan["missing"]
    assert [s["step"] for s in plan["steps"]] == [
        "code", "data", "environment", "command", "bitwise", "behaviour"
    ]  # fmt: skip
    done = jrun(cli, "reproduce", vid)
    assert done["outcome"] == "bitwise", done
    assert done["bitwise"] and done["environment"].startswith("this interpreter")
    shown = jrun(cli, "model", "show", vid)["reproduction"]
    assert shown["outcome"] == "bitwise" and shown["event"] == done["event"]
    assert "bitwise on" in cli("model", "show", vid).stdout  # the reproduction row
    assert not list((project / ".mledger").glob("reproductions/*"))  # the workspace went
    assert jrun(cli, "audit", "verify")["ok"]


def test_a_non_deterministic_version_reproduces_behaviourally(trained, project):
    cli, train = trained
    vid = train("--noisy")
    done = jrun(cli, "reproduce", vid, "--keep", code=0)
    assert done["outcome"] == "behavioural", done
    assert not done["bitwise"]
    outputs = done["behaviour"]["outputs"]
    assert outputs["test"] == "chi_square" and outputs["p_value"] >= 0.01
    assert outputs["agreement"] == 1.0 and done["behaviour"]["rows"] == 80
    metrics = done["behaviour"]["metrics"]
    assert metrics["ok"] and [m["metric"] for m in metrics["metrics"]] == ["accuracy"]
    assert Path(done["workdir"], "train.log").exists()  # --keep leaves it to look at
    # nothing the reproduction's run made entered the ledger
    assert [v["label"] for v in jrun(cli, "model", "list")] == ["churn@1"]


def test_what_cannot_be_reproduced_says_which_element_is_missing(ledger_cli, project):
    cli = ledger_cli
    art = write(project / "m.bin", "weights")
    jrun(cli, "model", "register", "ref", "--artifact", str(art), "--code-ref", "git@x:y")
    plan = jrun(cli, "reproduce", "ref@1", "--dry-run")
    assert not plan["runnable"]
    assert any(m.startswith("code: the code is a free-form reference") for m in plan["missing"])
    assert any(m.startswith("command: no training command") for m in plan["missing"])
    done = jrun(cli, "reproduce", "ref@1", code=1)
    assert done["outcome"] == "not reproducible"
    said = cli("model", "show", "ref@1").stdout
    assert "not reproducible on" in said
    jrun(
        cli, "model", "register", "old", "--artifact", str(art), "--irreproducible",
        "--reason", "found on a laptop",
    )  # fmt: skip
    missing = jrun(cli, "reproduce", "old@1", "--dry-run")["missing"]
    assert "record: marked irreproducible: found on a laptop" in missing
    assert "environment: no dependency lock was recorded" in missing


@pytest.mark.parametrize("backend", ["sqlite"])  # a virtualenv's failure, whatever the database
def test_a_lock_that_cannot_be_installed_here_is_a_clear_failure(trained, project):
    cli, _ = trained
    _git(project, "rev-parse", "HEAD")
    lock = write(project / "raw" / "lock.txt", "no-such-package-anywhere==9.9.9\n")
    art = write(project / "raw" / "m.bin", "weights")
    jrun(
        cli, "model", "register", "locked", "--artifact", str(art), "--lock", str(lock),
        "--command", "python train.py",
    )  # fmt: skip
    done = jrun(cli, "reproduce", "locked@1", "--offline", code=1)
    assert done["outcome"] == "failed"
    assert done["error"].startswith("the recorded lock cannot be installed here")


def test_an_uncommitted_change_that_was_not_recorded_is_refused(ledger_cli, project):
    """--allow-dirty records the diff, but untracked files past the stored diff's limit are left
    out: the version is marked irreproducible, and reproduce says exactly that."""
    cli = ledger_cli
    write(project / "train.py", "print('train')\n")
    write(project / ".gitignore", ".mledger/\nm.bin\n")
    _git(project, "init", "-q")
    _git(project, "add", "train.py", ".gitignore")
    _git(project, "commit", "-qm", "train")
    write(project / "weights-cache.npy", os.urandom(17 << 20))  # untracked, over the limit
    art = write(project / "m.bin", "weights")
    jrun(
        cli, "model", "register", "dirty", "--artifact", str(art), "--allow-dirty",
        "--command", "python train.py",
    )  # fmt: skip
    missing = jrun(cli, "reproduce", "dirty@1", "--dry-run")["missing"]
    assert any(
        m.startswith("record: marked irreproducible: untracked files over 16 MiB") for m in missing
    ), missing
    assert jrun(cli, "reproduce", "dirty@1", code=1)["outcome"] == "not reproducible"


def test_the_ui_version_page_shows_the_last_reproduction(ledger_cli, project, ledger):
    import warnings

    from modelledger.identity import tokens
    from modelledger.server.app import create_app
    from tests.people import REQUESTER, approved, key_of

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    cli = ledger_cli
    art = write(project / "m.bin", "weights")
    vid = jrun(cli, "model", "register", "ref", "--artifact", str(art), "--code-ref", "git@x:y")[
        "id"
    ]
    cli("env", "create", "production")
    approved(ledger, vid, "production", project=project)  # (people, for a sign-in token)
    jrun(cli, "reproduce", "ref@1", code=1)
    secret = tokens.create(ledger, key_of(project, REQUESTER), REQUESTER, ["read"]).secret
    with TestClient(create_app(ledger)) as client:
        client.cookies.set("mledger_ui", secret, path="/ui")
        page = client.get(f"/ui/versions/{vid}").text
    assert "Last reproduction: not reproducible on" in page
    assert "the code is a free-form reference" in page
