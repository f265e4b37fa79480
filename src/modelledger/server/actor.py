"""The ledger as one caller acts on it: the server's open ledger (its connections, its blob
store), with the caller's principal as the user every use case records as the actor."""

from __future__ import annotations

import dataclasses

from modelledger.ledger.home import Ledger


def acting_as(ledger: Ledger, principal: str) -> Ledger:
    """A view of ``ledger`` whose ``user`` is ``principal``. It shares the ledger's database
    and blob store (opened once per process) and must not be closed."""
    view = Ledger(dataclasses.replace(ledger.config, user=principal))
    # Ledger opens both lazily into cached properties: given the open ones, it opens nothing
    view.__dict__["db"] = ledger.db
    view.__dict__["blobs"] = ledger.blobs
    return view
