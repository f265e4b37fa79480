"""The directory as the server reads it on every request: cached, and brought up to date from
the identity events after the cached head whenever the chain's head has moved.

Checking the head is one indexed read of the newest event; a head that moved without a new
identity event (a registration) costs one more small query and no replay. Every replica does
the same, so a token revoked through one is refused by all from their next request on.
"""

from __future__ import annotations

import copy
import threading

from modelledger.core.events import Link
from modelledger.identity import store as identities
from modelledger.identity.directory import Directory
from modelledger.ledger import events
from modelledger.ledger.home import Ledger


class DirectoryCache:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._directory: Directory | None = None
        self._head: Link | None = None

    def current(self) -> Directory:
        """The directory as of the ledger's head now (never to be changed by the caller)."""
        with self._ledger.db.read() as conn:
            head = events.head(conn)
            with self._lock:
                cached, seen = self._directory, self._head
            if cached is not None and head == seen:
                return cached
            if cached is None or seen is None or head is None or head.seq <= seen.seq:
                fresh = identities.directory(conn)  # first use, or a ledger rewound: all again
            else:
                new = identities.identity_events(conn, after=seen.seq)
                fresh = copy.deepcopy(cached) if new else cached
                for ev in new:
                    fresh.apply(ev)
        with self._lock:
            if self._head is None or head is None or self._head.seq <= head.seq:
                self._directory, self._head = fresh, head
        return fresh
