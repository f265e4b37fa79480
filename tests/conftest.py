"""Shared fixtures. Every store-touching test runs on a real SQLite file and on PostgreSQL.

PostgreSQL tests each get a schema of their own (created and dropped here), so concurrent or
repeated runs never see each other's rows. Outside CI an unreachable server skips them; with
CI=true it fails the run.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelledger.cli.app import app
from modelledger.ledger.home import Ledger, init_ledger, open_ledger
from modelledger.settings import Settings

PG_URL = os.environ.get("MLEDGER_TEST_PG_URL", "postgresql+psycopg://postgres@localhost:5432/test")
_pg_state: dict[str, object] = {}


def _pg_conninfo() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def pg_available() -> bool:
    if "ok" not in _pg_state:
        import psycopg

        try:
            with psycopg.connect(_pg_conninfo(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["ok"] = True
        except psycopg.OperationalError as exc:
            _pg_state["ok"] = False
            _pg_state["why"] = str(exc).strip().splitlines()[0]
    return bool(_pg_state["ok"])


def require_pg() -> None:
    if pg_available():
        return
    message = f"PostgreSQL at {PG_URL} is not reachable: {_pg_state.get('why')}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI requires it)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A database URL whose search_path is a fresh schema, dropped afterwards."""
    require_pg()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite (the ledger's default file); a fresh schema's URL for PostgreSQL."""
    if backend == "sqlite":
        return None
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def ledger(project: Path, db_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """An initialised ledger in ``project`` (the cwd during the test), on each backend."""
    monkeypatch.chdir(project)
    monkeypatch.delenv("MLEDGER_HOME", raising=False)
    monkeypatch.delenv("MLEDGER_DB_URL", raising=False)
    monkeypatch.delenv("MLEDGER_BLOB_URL", raising=False)
    monkeypatch.setenv("MLEDGER_USER", "alice")
    result = init_ledger(project, db_url=db_url)
    led = open_ledger(Settings(home=result.home))
    yield led
    led.close()


def write(path: Path, content: bytes | str = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


@pytest.fixture(autouse=True)
def _close_cached_ledgers() -> Iterator[None]:
    """The Python API keeps ledgers open per process; tests close them so no connection leaks."""
    yield
    from modelledger import client

    for led in client._open_ledgers.values():
        led.close()
    client._open_ledgers.clear()


@pytest.fixture
def deny_read(monkeypatch: pytest.MonkeyPatch):
    """Make opening one path refuse (the blob store's ``open`` and ``os.open``): root reads
    every file whatever its mode bits, so an unreadable file is simulated at the OS seam."""
    import builtins
    import os

    from modelledger.blobs import store as store_module

    def deny(path: Path) -> None:
        def refusing(opener):  # type: ignore[no-untyped-def]
            def denied(target, *args, **kwargs):  # type: ignore[no-untyped-def]
                if str(target) == str(path):
                    raise PermissionError(13, "Permission denied", str(target))
                return opener(target, *args, **kwargs)

            return denied

        monkeypatch.setattr(store_module, "open", refusing(builtins.open), raising=False)
        monkeypatch.setattr(os, "open", refusing(os.open))

    return deny


# Running the CLI in-process as a user would, from the project folder.
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


def alter_event(ledger: Ledger, seq: int, column: str, value: str) -> None:
    """Rewrite one event's column behind the immutability trigger's back, as someone with write
    access to the database could."""
    from sqlalchemy import text

    assert column in ("payload_json", "actor", "kind", "subject")
    with ledger.db.write() as conn:
        if ledger.db.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER events_no_update"))
        else:
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER events_immutable"))
        conn.execute(
            text(f"UPDATE events SET {column} = :v WHERE seq = :s"), {"v": value, "s": seq}
        )


def jrun(cli, *args, code=0):
    return json.loads(cli(*args, "--json", code=code).stdout)


def churn_in_production(cli, project, count, registrants=("alice",), monkeypatch=None):
    """``count`` versions of ``churn`` (registered by ``registrants`` in turn), a production
    environment asking one approver, and churn@2 promoted there (requested by carol, approved by
    dave); the versions' ids."""
    ids = []
    for n in range(1, count + 1):
        if monkeypatch is not None:
            monkeypatch.setenv("MLEDGER_USER", registrants[(n - 1) % len(registrants)])
        art = write(project / f"m{n}.bin", f"w{n}")
        ids.append(
            jrun(cli, "model", "register", "churn", "-a", str(art), "--code-ref", f"x@{n}")["id"]
        )
    if monkeypatch is not None:
        monkeypatch.setenv("MLEDGER_USER", "carol")
    cli("env", "create", "production")
    write(project / "policy.yaml", "approvers: 1\n")
    cli("env", "policy", "production", "policy.yaml")
    from tests.people import promote_via_cli

    promote_via_cli(cli, project, "churn@2", "production", approvers=("dave",))
    return ids
