"""The serving layer's way into the inference log: an asynchronous batched writer that takes
predictions off the request path."""

from __future__ import annotations

import atexit
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.ledger.home import Ledger
from modelledger.predictions.batch import BadRecord
from modelledger.predictions.ingest import log_predictions, mint_request_id
from modelledger.predictions.store.reads import logged_keys
from modelledger.releases.environment import validate_env_name

log = logging.getLogger(__name__)

_STOP = object()


class PredictionLogger:
    """Logs predictions off the request path: ``log`` puts the record on a queue and returns the
    request id at once; a background thread writes a batch every ``max_batch`` records or
    ``interval`` seconds, whichever comes first. ``close`` (also run at interpreter exit, and on
    SIGTERM when ``handle_sigterm``) writes what is queued.

    A batch that fails leaves out its bad records (logged, counted in ``rejected``) and writes the
    rest; a batch the store refuses altogether is counted in ``lost``. A full queue drops the new
    record (counted in ``dropped``) rather than block a request."""

    def __init__(
        self,
        ledger: Ledger,
        env: str,
        *,
        max_batch: int = 5000,
        interval: float = 1.0,
        max_queue: int = 1_000_000,
        handle_sigterm: bool = False,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        validate_env_name(env)
        if max_batch < 1 or interval <= 0:
            raise InvalidInput("max_batch must be at least 1 and interval positive")
        self.ledger = ledger
        self.env = env
        self.max_batch = max_batch
        self.interval = interval
        self.on_error = on_error
        self.written = 0
        self.rejected = 0
        self.lost = 0
        self.dropped = 0
        self.batches = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._flushed = threading.Condition()
        self._pending = 0
        self._closed = False
        self._claimed: set[str] = set()  # client-given request ids answered, not yet written
        self._claim_lock = threading.Lock()
        _ = ledger.db, ledger.blobs  # open both here: the cached properties are not thread-safe
        with ledger.db.read() as conn:
            from modelledger.releases.environments import require_env

            require_env(conn, env)
        self._thread = threading.Thread(target=self._run, name=f"mledger-log-{env}", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        self._previous: Any = None
        if handle_sigterm:
            if threading.current_thread() is not threading.main_thread():
                self.close()
                raise InvalidInput(
                    "handle_sigterm: signal handlers can only be set from the main thread"
                )
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

    def log(self, record: Mapping[str, Any]) -> str:
        """Queue one prediction; returns its request id (minted here when absent, so the caller
        can hand it back to its client)."""
        if self._closed:
            raise InvalidInput("this prediction logger is closed")
        item = dict(record)
        request_id = item.get("request_id")
        if request_id is None:
            request_id = item["request_id"] = mint_request_id()
        if item.get("served_at") is None:
            item["served_at"] = time.time()
        with self._flushed:
            self._pending += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._flushed:
                self._pending -= 1
                self.dropped += 1
        return str(request_id)

    def claim(self, request_ids: Sequence[str]) -> str | None:
        """Reserve request ids given by clients for served answers, before they are answered: a
        request id names one request, and a second answer to it could never be logged. Returns
        the first id already logged (or answered here and still queued), reserving none; None
        when all are reserved (until the batch holding them is written)."""
        with self._claim_lock:
            for request_id in request_ids:
                if request_id in self._claimed:
                    return request_id
            with self.ledger.db.read() as conn:
                logged = {key[0] for key in logged_keys(conn, request_ids)}
            for request_id in request_ids:
                if request_id in logged:
                    return request_id
            self._claimed.update(request_ids)
        return None

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written (or given up on); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._flushed:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._queue.put(None)  # wake the writer: write what it holds now
                self._flushed.wait(left if left is not None else 0.5)
        return True

    def close(self, timeout: float | None = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        atexit.unregister(self.close)

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.close()
        previous = self._previous
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)
        elif previous in (signal.SIG_DFL, None):
            os.kill(os.getpid(), signal.SIGTERM)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[dict[str, Any]] = []
            deadline = None
            while len(batch) < self.max_batch:
                wait = self.interval if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    break
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    if batch:
                        break
                    continue
                if item is _STOP:
                    stop = True
                    # everything put before the stop is ahead of it in the queue
                    break
                if item is None:  # a flush request
                    if batch:
                        break
                    with self._flushed:
                        self._flushed.notify_all()
                    continue
                batch.append(item)
                if deadline is None:
                    deadline = time.monotonic() + self.interval
            if batch:
                self._write(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            report = log_predictions(
                self.ledger, batch, self.env, source="logger", skip_invalid=True
            )
            self.written += report.count
            self.rejected += report.rejected_count
            self.batches += 1
            for bad in report.rejected:
                log.warning("prediction not logged (record %d of a batch): %s", *_bad(bad))
        except Exception as exc:  # the writer thread must not die
            self.lost += len(batch)
            log.error("could not log %d predictions: %s", len(batch), exc)
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            with self._claim_lock:  # written now (or lost): the store answers for these ids
                self._claimed.difference_update(r["request_id"] for r in batch)
            with self._flushed:
                self._pending -= len(batch)
                self._flushed.notify_all()


def _bad(bad: BadRecord) -> tuple[int, str]:
    return bad.position, bad.message
