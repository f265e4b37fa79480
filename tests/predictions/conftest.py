"""What the inference log's tests share: a live version to log predictions for, and counters."""

import json

import pytest
from sqlalchemy import text

from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.models.register import RegisterRequest, register
from modelledger.releases import environments as envs
from tests.conftest import write
from tests.people import promote_approved

CARD = {
    "sources": [
        {"name": "payments-2024", "owner": "risk-team", "license": "internal", "pii": "redacted"}
    ]
}


def count(ledger, table="predictions"):
    with ledger.db.read() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def events_of(ledger, kind):
    with ledger.db.read() as conn:
        rows = conn.execute(
            text("SELECT payload_json FROM events WHERE kind = :k ORDER BY seq"), {"k": kind}
        )
        return [json.loads(r[0]) for r in rows]


@pytest.fixture
def live(ledger, project):
    """fraud@1 (trained on a carded snapshot) live in production, promoted by alice with bob's
    approval; fraud@2 registered but never promoted."""
    train = snapshot(
        ledger,
        SnapshotRequest([write(project / "train.csv", "a,b\n1,2\n")], "train", card=CARD),
    ).snapshot
    versions = []
    for n in (1, 2):
        art = write(project / f"model{n}.bin", f"weights {n}")
        req = RegisterRequest(
            name="fraud",
            artifact=art,
            code_ref=f"git+https://example.com/fraud.git@{n:040x}",
            params={"depth": n},
            data=[f"{train.id}:train"],
        )
        versions.append(register(ledger, req).version)
    envs.create(ledger, "production")
    promotion = promote_approved(
        ledger, versions[0].id, "production", requester="alice", reason="weekly retrain"
    )
    return {"v1": versions[0], "v2": versions[1], "train": train, "promotion": promotion}


def rec(version, **kw):
    out = {"version_id": version.id, "output": {"label": 1, "score": 0.93}, "input": {"x": 1}}
    out.update(kw)
    return out
