"""A team on a ledger (SQLite and PostgreSQL) and the registry API over it (FastAPI's TestClient).

carol: admin (the root); alice: writer and approver; bob: approver; wes: writer; rita: reader.
Each has a key under project/.keys and a token with every scope their roles allow.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from modelledger.identity import manage, tokens
from modelledger.identity.signing import public_key_text
from modelledger.ledger.home import Ledger, now
from modelledger.releases import environments as envs
from modelledger.releases.signatures import sign_decision, sign_request
from modelledger.server.app import Limits, create_app
from tests.conftest import write
from tests.people import key_file, key_of, people

with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API = "/api/v1"
ROLES = {
    "alice": (["writer", "approver"], ["read", "write", "approve"]),
    "bob": (["approver"], ["read", "approve"]),
    "wes": (["writer"], ["read", "write"]),
    "rita": (["reader"], ["read"]),
}
LOCK = "numpy==2.0.0\n"


@dataclass
class Team:
    ledger: Ledger
    project: Path
    client: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def key(self, name: str) -> Any:
        return key_of(self.project, name)

    def h(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def get(self, path: str, who: str = "rita", **kw: Any) -> Any:
        return self.client.get(API + path, headers=self.h(who), **kw)

    def post(self, path: str, who: str, **kw: Any) -> Any:
        return self.client.post(API + path, headers={**self.h(who), **kw.pop("headers", {})}, **kw)

    def register(self, who: str = "alice", content: bytes = b"w1", **meta: Any) -> Any:
        body = {"name": "churn", "code_ref": "git@example:churn#1", "lock": LOCK, **meta}
        return self.post(
            "/versions", who, params={"metadata": json.dumps(body)}, content=content,
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip

    def draft(self, who: str, ref: str, env: str = "production", **kw: Any) -> Any:
        return self.post("/requests/draft", who, json={"ref": ref, "env": env, **kw})

    def open(self, who: str, ref: str, env: str = "production") -> Any:
        drafted = self.draft(who, ref, env)
        assert drafted.status_code == 200, drafted.text
        return self.post(
            "/requests", who, json=sign_request(drafted.json()["request"], self.key(who))
        )

    def decide(
        self, who: str, request_id: str, decision: str = "approve", reason: str | None = None
    ) -> Any:
        shown = self.get(f"/requests/{request_id}", who).json()
        body = sign_decision(shown, self.key(who), who, decision, reason, at=now())
        return self.post(f"/requests/{request_id}/{decision}", who, json=body)


def make_team(ledger: Ledger, project: Path) -> dict[str, str]:
    """The people, their tokens and production asking one approver; the tokens' secrets."""
    people(ledger, project, approvers=(), requester="carol")
    admin = key_of(project, "carol")
    for name, (roles, _) in ROLES.items():
        manage.save(
            ledger, admin, name, grant=roles, add_keys=[public_key_text(key_of(project, name))],
            create=True,
        )  # fmt: skip
    secrets = {"carol": tokens.create(ledger, admin, "carol", ["admin"]).secret}
    for name, (_, scopes) in ROLES.items():
        secrets[name] = tokens.create(ledger, admin, name, scopes).secret
    policy = write(project / "policy.yaml", "approvers: 1\n")
    envs.set_policy(ledger, "production", policy, admin)
    return secrets


@pytest.fixture
def team(ledger: Ledger, project: Path) -> Iterator[Team]:
    secrets = make_team(ledger, project)
    app = create_app(ledger, Limits(max_upload_bytes=4 << 20, auth_failures=5))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Team(ledger, project, client, secrets)


GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


@pytest.fixture
def remote(ledger, project, tmp_path, monkeypatch, cli):
    """The team's server over ``ledger`` and a client checkout (a git repo) to run the CLI in:
    ``as_(name)`` makes the CLI that person (their token and key)."""
    secrets = make_team(ledger, project)
    from tests.server.test_replicas import start

    proc, url = start(project, tmp_path / "server.log")
    client = tmp_path / "checkout"
    client.mkdir()
    write(client / "train.py", "print('train')\n")
    write(client / ".gitignore", "*.bin\ndata/\nreports/\n")  # not code
    subprocess.run([*GIT, "init", "-q"], cwd=client, check=True)
    subprocess.run([*GIT, "add", "."], cwd=client, check=True)
    subprocess.run([*GIT, "commit", "-qm", "c"], cwd=client, check=True)
    monkeypatch.chdir(client)
    monkeypatch.setenv("MLEDGER_URL", url.removesuffix("/api/v1"))

    def as_(name: str) -> None:
        monkeypatch.setenv("MLEDGER_TOKEN", secrets[name])
        monkeypatch.setenv("MLEDGER_KEY", str(key_file(project, name)))
        monkeypatch.setenv("MLEDGER_USER", "someone-else")  # the token says who, not this

    try:
        yield as_, client, secrets
    finally:
        proc.terminate()
        proc.wait(timeout=30)
