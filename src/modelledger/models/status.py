"""``model show``: one version with its current card. Free of SQLAlchemy at import, because on
SQLite it answers through the stdlib driver (see ``Ledger.quick``): "what exactly is mv-…?" is
asked by people and scripts all day and should come back at once."""

from __future__ import annotations

import json
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.core.refs import parse_ref
from modelledger.ledger.home import Ledger
from modelledger.models.version import ModelVersion, reproduction_of, retrain_flags


def show(ledger: Ledger, ref: str) -> dict[str, Any]:
    """The version with its current card revision, as data."""
    from modelledger.ledger.quick import version_record

    try:
        parsed = parse_ref(ref)
    except InvalidInput:  # a bare name: the full path says what to type instead
        parsed = None
    found = ledger.quick(lambda conn: version_record(conn, parsed)) if parsed else None
    if found is None:
        from modelledger.models.reads import show as full

        return full(ledger, ref)
    out = ModelVersion.from_record(found["version"]).to_json()
    card = found["card"]
    out["card"] = {"revision": card["revision"], **json.loads(card["card_json"])} if card else None
    out["tags"] = found["tags"]
    out["description"] = found["description"]
    out["retrain"] = retrain_flags(out["id"], found["erasures"])
    out["reproduction"] = reproduction_of(found["reproductions"])
    return out
