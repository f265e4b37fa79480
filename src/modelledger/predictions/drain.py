"""Moving journaled answers into the ledger's inference log, in the background, until it takes
them: a ledger that is locked, down or refusing costs a backlog and a ``degraded`` health, never a
record. Writes are idempotent (``log_predictions`` leaves out what is logged already), so a batch
retried after an unclear failure, or a dead process's journal replayed twice, logs each record once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from modelledger.ledger.home import Ledger
from modelledger.predictions.ingest import log_predictions

log = logging.getLogger(__name__)

_BACKOFF = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


@dataclass
class DrainState:
    written: int = 0
    rejected: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str | None = None
    failing_since: float | None = None  # monotonic time of the first failure in a row


class Drainer:
    """One thread writing ``(tag, records)`` pieces (a tag: the journal segment or replayed file
    they came from) to the ledger, oldest first, at most
    ``max_batch`` records a transaction and at least every ``interval`` seconds."""

    def __init__(
        self,
        ledger: Ledger,
        env: str,
        done: Callable[[object, int], None],  # (tag, n): n more records of the tag's are in
        *,
        max_batch: int = 5000,
        interval: float = 0.2,
    ) -> None:
        self.ledger, self.env, self._done = ledger, env, done
        self.max_batch, self.interval = max_batch, interval
        self.state = DrainState()
        self._queue: deque[tuple[object, list[bytes]]] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._urgent = False
        self._busy_since: float | None = None  # monotonic start of the write in progress
        self._thread = threading.Thread(target=self._run, name=f"mledger-drain-{env}", daemon=True)
        self._thread.start()

    def put(self, segment: object, records: list[bytes]) -> None:
        with self._cond:
            self._queue.append((segment, records))
            self._queued += len(records)
            if self._queued >= self.max_batch:
                self._cond.notify()

    @property
    def queued(self) -> int:
        with self._cond:
            return self._queued

    def stalled_for(self) -> float:
        """Seconds the ledger has been refusing, or holding, the current write (0 when fine)."""
        now = time.monotonic()
        since = self.state.failing_since
        busy = self._busy_since
        return max(now - since if since else 0.0, now - busy if busy else 0.0)

    def nudge(self) -> None:
        """Write what is queued now rather than at the next interval."""
        with self._cond:
            self._urgent = True
            self._cond.notify()

    def _take(self) -> list[tuple[object, list[bytes]]]:
        with self._cond:
            if not (self._stopping or self._urgent) and self._queued < self.max_batch:
                self._cond.wait(self.interval)
            self._urgent = False
            taken, n = [], 0
            while self._queue and n < self.max_batch:
                seg, records = self._queue[0]
                room = self.max_batch - n
                if len(records) > room:
                    self._queue[0] = (seg, records[room:])
                    records = records[:room]
                else:
                    self._queue.popleft()
                taken.append((seg, records))
                n += len(records)
            return taken

    def _run(self) -> None:
        while True:
            taken = self._take()
            if not taken:
                with self._cond:
                    if self._stopping and not self._queue:
                        return
                continue
            self._write(taken)

    def _write(self, taken: list[tuple[object, list[bytes]]]) -> None:
        records = []
        for _, piece in taken:
            for payload in piece:
                try:
                    records.append(orjson.loads(payload))
                except orjson.JSONDecodeError:  # its frame's CRC held: written so, by a bug
                    self.state.rejected += 1
                    log.error("a journaled record is not JSON, left out: %r", payload[:200])
        attempt = 0
        while True:
            self._busy_since = time.monotonic()
            try:
                report = log_predictions(
                    self.ledger, records, self.env, source="serve", skip_invalid=True
                )
                break
            except Exception as exc:  # locked, unreachable, refusing: keep it, try again
                st = self.state
                st.failures += 1
                st.last_error = " ".join(str(exc).split()) or type(exc).__name__
                if st.failing_since is None:
                    st.failing_since = time.monotonic()
                    log.error("inference log behind, retrying: %s", st.last_error)
            finally:
                self._busy_since = None
            time.sleep(_BACKOFF[min(attempt, len(_BACKOFF) - 1)])
            attempt += 1
        st = self.state
        if st.failing_since is not None:
            log.warning("inference log writable again after %d failure(s)", st.failures)
        st.failing_since, st.last_error = None, None
        st.written += report.count
        st.rejected += report.rejected_count
        st.batches += 1
        for bad in report.rejected:
            log.error("answered prediction not logged (refused by the ledger): %s", bad.message)
        with self._cond:
            self._queued -= sum(len(piece) for _, piece in taken)
        for tag, piece in taken:
            self._done(tag, len(piece))

    def close(self, timeout: float | None = None) -> bool:
        """Write everything queued, then stop; False when the ledger did not take it all within
        ``timeout`` (the thread goes on trying until the process exits)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive()
