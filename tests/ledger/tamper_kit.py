"""A ledger holding one of every kind of record, built once per backend, and the means to damage
a copy of it the way someone with the database's password could: triggers off (SQLite: dropped;
PostgreSQL: ``session_replication_role = replica``), then any SQL."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from modelledger.cli.app import app
from tests.people import key_file, promote_via_cli

PG_BASE = os.environ.get("MLEDGER_TEST_PG_URL", "postgresql+psycopg://postgres@localhost:5432/test")


def _server(url: str) -> str:
    return url.rsplit("/", 1)[0]


def pg_conninfo(database: str) -> str:
    return _server(PG_BASE).replace("postgresql+psycopg://", "postgresql://") + f"/{database}"


@dataclass
class Built:
    """A ledger's home folder (and, on PostgreSQL, the database it is a copy of)."""

    home: Path
    backend: str
    database: str | None = None  # PostgreSQL: the template database


class Runner:
    def __init__(self, home: Path, cwd: Path) -> None:
        self.home, self.cwd = home, cwd
        self._runner = CliRunner()

    def __call__(self, *args: str, code: int | None = 0) -> str:
        old = Path.cwd()
        os.chdir(self.cwd)
        try:
            result = self._runner.invoke(
                app,
                list(args),
                env={"MLEDGER_HOME": str(self.home), "MLEDGER_USER": "carol"},
                catch_exceptions=False,
            )
        finally:
            os.chdir(old)
        if code is not None:
            assert result.exit_code == code, f"{args}: {result.exit_code}\n{result.output}"
        return result.stdout

    def json(self, *args: str, code: int = 0) -> object:
        return json.loads(self(*args, "--json", code=code))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def build(folder: Path, backend: str) -> Built:
    """Every kind of record: snapshots with a card and a transform, an eval set, two versions
    with params, data, a card, tags and a description, eval results, an environment with a
    policy, identities and two promotions (each a signed request and a signed approval), a
    system, a route, logged predictions with features, feedback."""
    project = folder / "project"
    project.mkdir(parents=True)
    database = None
    init = ["init", str(project)]
    if backend == "postgres":
        import psycopg

        database = f"tpl_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_conninfo("test"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")
        init += ["--db", f"{_server(PG_BASE)}/{database}"]
    home = project / ".mledger"
    CliRunner().invoke(app, init, catch_exceptions=False)
    run = Runner(home, project)
    _write(project / "train/a.csv", "x,y\n1,0\n2,1\n3,0\n")
    _write(project / "card.yaml", "consent_basis: contract\n")
    train = run.json("data", "snapshot", "train", "-n", "train", "--card", "card.yaml")["id"]
    _write(project / "clean/a.csv", "x,y\n1,0\n2,1\n")
    run("data", "snapshot", "clean", "-n", "clean", "--from", train, "--step", "dedupe")
    _write(project / "eval/e.csv", "x,y\n4,1\n5,0\n")
    holdout = run.json("eval", "set", "create", "holdout", "eval")["id"]
    _write(project / "m1.bin", "weights one")
    _write(project / "m2.bin", "weights two")
    run("model", "register", "churn", "-a", "m1.bin", "-d", f"{train}:train",
        "-p", "lr=0.1", "-p", "depth=3", "--code-ref", "git+https://x.invalid/r@1")  # fmt: skip
    run("model", "register", "churn", "-a", "m2.bin", "-d", f"{train}:train",
        "-p", "lr=0.05", "--parent", "churn@1", "--code-ref", "git+https://x.invalid/r@2")  # fmt: skip
    run("eval", "record", "churn@1", "-e", holdout, "-m", "auc=0.9", "-s", "new:auc=0.8")
    run("eval", "record", "churn@2", "-e", holdout, "-m", "auc=0.92")
    _write(project / "mcard.yaml", "intended_use: ranking\n")
    run("model", "card", "churn@1", "--set", "mcard.yaml")
    run("model", "tag", "churn@1", "stage=prod", "team=risk")
    run("model", "describe", "churn@1", "the first one")
    run("env", "create", "production")
    _write(project / "policy.yaml", "approvers: 1\n")
    run("env", "policy", "production", "policy.yaml")
    promote_via_cli(run, project, "churn@1", "production", approvers=("bob",))  # carol asks
    v2 = promote_via_cli(run, project, "churn@2", "production", approvers=("bob",))["id"]
    run("system", "create", "rag", "-c", "model=churn@1", "-c", f"data={train}")
    run("route", "set", "production", "--arm", "churn@2=90", "--arm", "churn@1=10",
        "--key", str(key_file(project, "bob")))  # fmt: skip
    lines = [
        {
            "request_id": f"r{i}",
            "version_id": v2,
            "output": {"p": i / 10},
            "confidence": 0.5,
            "features": {"amount": float(i), "country": "de"},
        }
        for i in range(6)
    ]
    _write(project / "preds.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    run("predictions", "import", "preds.jsonl", "-e", "production")
    _write(project / "fb.jsonl", '{"request_id": "r1", "was_correct": true}\n')
    run("feedback", "import", "fb.jsonl")
    run("audit", "checkpoint", "-o", str(folder / "checkpoint.json"))
    return Built(home, backend, database)


@dataclass
class Copy:
    """One test's copy of the built ledger."""

    run: Runner
    backend: str
    checkpoint: Path
    db_path: Path | None = None  # SQLite
    database: str | None = None  # PostgreSQL

    @contextmanager
    def sql(self) -> Iterator[object]:
        """A DB-API connection with every immutability trigger out of the way, committed at the end."""
        if self.backend == "sqlite":
            assert self.db_path is not None
            conn = sqlite3.connect(self.db_path)
            names = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
            ]
            for name in names:
                conn.execute(f'DROP TRIGGER "{name}"')
            try:
                yield conn
                conn.commit()
            finally:
                conn.close()
            return
        import psycopg

        assert self.database is not None
        with psycopg.connect(pg_conninfo(self.database)) as pg:
            pg.execute("SET session_replication_role = replica")
            yield pg

    def execute(self, *statements: str) -> None:
        with self.sql() as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[attr-defined]

    def verify(self, *extra: str) -> dict:  # type: ignore[type-arg]
        out = self.run(
            "audit", "verify", "--checkpoint", str(self.checkpoint), "--json", *extra, code=None
        )
        return json.loads(out)  # type: ignore[no-any-return]


def copy_of(built: Built, folder: Path) -> Copy:
    project = folder / "project"
    shutil.copytree(built.home.parent, project, symlinks=True)
    home = project / ".mledger"
    checkpoint = folder / "checkpoint.json"
    shutil.copyfile(built.home.parent.parent / "checkpoint.json", checkpoint)
    if built.backend == "sqlite":
        return Copy(Runner(home, project), "sqlite", checkpoint, db_path=home / "ledger.db")
    import psycopg

    database = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_conninfo("test"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database} TEMPLATE {built.database}")
    (home / "config.json").write_text(
        json.dumps({"db_url": f"{_server(PG_BASE)}/{database}"}), encoding="utf-8"
    )
    return Copy(Runner(home, project), "postgres", checkpoint, database=database)


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(pg_conninfo("test"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
