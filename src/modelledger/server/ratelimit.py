"""Failed authentications counted per client address: past a limit in a window, that address is
refused (429) until the window has passed. Pure: the clock is given.

Kept in each server process (a replica counts its own failures): enough to make guessing
tokens slow, with 256-bit secrets that no one guesses anyway.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float], max_clients: int = 100_000
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        found = self._failures.get(client)
        if found is None:
            return None
        while found and found[0] <= now - self.window:
            found.popleft()
        if not found:
            del self._failures[client]
            return None
        return found

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try again; None when it may now."""
        with self._lock:
            now = self._clock()
            found = self._recent(client, now)
            if found is None or len(found) < self.limit:
                return None
            return max(found[-self.limit] + self.window - now, 0.0) or None

    def forget(self) -> None:
        """Every failure counted so far (an operator's reset; tests)."""
        with self._lock:
            self._failures.clear()

    def failed(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            if client not in self._failures and len(self._failures) >= self._max_clients:
                for old in list(self._failures):  # forget the quiet ones first
                    self._recent(old, now)
                if len(self._failures) >= self._max_clients:
                    self._failures.pop(next(iter(self._failures)))
            found = self._failures.setdefault(client, deque())
            found.append(now)
            while len(found) > self.limit:
                found.popleft()
