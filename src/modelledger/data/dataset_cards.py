"""Dataset cards: read the newest revision, or amend (a new revision and an event)."""

from __future__ import annotations

from typing import Any

from modelledger.core.errors import NotFound
from modelledger.data.dataset_card import validate_dataset_card
from modelledger.data.manifest import Snapshot
from modelledger.data.resolve import resolve_snapshot
from modelledger.data.snapshot import add_card
from modelledger.data.store import snapshots
from modelledger.ledger import cards
from modelledger.ledger.home import Ledger, now


def card(ledger: Ledger, ref: str) -> tuple[Snapshot, int, dict[str, Any]]:
    with ledger.db.read() as conn:
        snap = snapshots.get(conn, resolve_snapshot(conn, ref))
        assert snap is not None
        found = cards.latest(conn, "dataset", snap.id)
    if found is None:
        raise NotFound(
            f"{snap.id} ({snap.name}) has no dataset card: add one with "
            "`mledger data card ID --set CARD.yaml`"
        )
    return snap, found[0], found[1]


def amend(ledger: Ledger, ref: str, data: dict[str, Any]) -> tuple[Snapshot, int | None]:
    """Store ``data`` as the newest revision; None when it equals the current card."""
    with ledger.db.write() as conn:
        snap = snapshots.get(conn, resolve_snapshot(conn, ref))
        assert snap is not None
        valid = validate_dataset_card(data, snap.id, snap.tree_sha256)
        return snap, add_card(ledger, conn, snap.id, valid, now())


def card_json(ledger: Ledger, ref: str) -> dict[str, Any]:
    """As ``data card --json`` prints it."""
    snap, revision, data = card(ledger, ref)
    return {"id": snap.id, "name": snap.name, "revision": revision, "card": data}


def amended_json(ledger: Ledger, ref: str, data: dict[str, Any]) -> dict[str, Any]:
    snap, revision = amend(ledger, ref, data)
    return {"id": snap.id, "name": snap.name, "revision": revision}
