"""The server's state: the runtime in force, the poller that swaps it, the durable inference log.

Hot swap: a thread polls the environment's pointer (live id and route revision: two primary-key
lookups) every ``poll_interval`` seconds. When it moves, the same thread builds a new runtime
(verifying and loading any model it has not loaded yet) and then replaces ``runtime``, one
reference assignment; each request reads that reference once, so a request in flight finishes on
the version it started on. A build that fails (bytes that no longer match their hash, no loader,
a load error) changes nothing: the previous runtime keeps serving, ``/health`` reports the failed
swap, and the same pointer is tried again after ``retry_after`` seconds (a repaired blob store is
picked up without a restart). The failure clears once the pointer comes back to what is served
(a rollback) or a later swap succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from modelledger.ledger.home import Ledger, now
from modelledger.predictions.durable_log import DurableLog
from modelledger.serving import state as serving_state
from modelledger.serving.handler import Handler, LogSink, Outcome, ShadowScorer
from modelledger.serving.metrics import ServingMetrics
from modelledger.serving.runtime import Runtime, build_runtime
from modelledger.serving.state import Pointer

log = logging.getLogger(__name__)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@dataclass(frozen=True)
class FailedSwap:
    pointer: Pointer
    at: str
    error: str
    monotonic: float

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "target": self.pointer.live_id,
            "route_revision": self.pointer.route_revision,
            "error": self.error,
        }


class Server:
    """What ``create_app`` serves. Builds the first runtime at once, so an unknown environment or
    an unservable live version fails here, before anything listens."""

    def __init__(
        self,
        ledger: Ledger,
        env: str,
        *,
        log: DurableLog | None = None,
        metrics: ServingMetrics | None = None,
        poll_interval: float = 0.5,
        retry_after: float = 30.0,
    ) -> None:
        self.ledger = ledger
        self.env = env
        self.poll_interval = poll_interval
        self.retry_after = retry_after
        self.runtime: Runtime = build_runtime(ledger, env)
        self.metrics = metrics if metrics is not None else ServingMetrics(env)
        self.log = log if log is not None else DurableLog(ledger, env, on_fsync=self.metrics.fsync)
        sink: LogSink = self.log
        self.shadows = ShadowScorer(sink, on_skip=self.metrics.shadow_skipped)
        self.handler = Handler(sink, self.shadows)
        self._logged_seen = 0
        # the HTTP layer runs every prediction on this one thread (see app.py)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"mledger-predict-{env}")
        self.started_at = now()
        self.swaps = 0
        self.last_swap: dict[str, Any] | None = None
        self.failed: FailedSwap | None = None
        self.last_poll: str | None = None
        self.poll_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- the request path ------------------------------------------------------------------------
    def predict(self, payload: Any) -> Outcome:
        return self.handler.predict(self.runtime, payload)  # the reference is read once, here

    # -- hot swap --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None and self.poll_interval > 0:
            self._thread = threading.Thread(
                target=self._run, name=f"mledger-poll-{self.env}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.poll_once()

    def poll_once(self) -> bool:
        """One look at the pointer; True when the runtime was swapped."""
        try:
            pointer = serving_state.pointer(self.ledger, self.env)
        except Exception as exc:  # the ledger is unreachable for a moment: keep serving
            self.poll_error = _one_line(exc)
            return False
        self.last_poll, self.poll_error = now(), None
        current = self.runtime
        if pointer == current.pointer:
            self.failed = None
            return False
        failed = self.failed
        if (
            failed is not None
            and failed.pointer == pointer
            and time.monotonic() - failed.monotonic < self.retry_after
        ):
            return False
        started = time.perf_counter()
        try:
            new = build_runtime(self.ledger, self.env, previous=current)
        except Exception as exc:  # whatever a model's code raises, the server keeps serving
            self.failed = FailedSwap(pointer, now(), _one_line(exc), time.monotonic())
            log.error(
                "%s: not swapping to %s; still serving %s: %s",
                self.env,
                pointer.live_id,
                current.pointer.live_id,
                self.failed.error,
            )
            return False
        self.runtime = new
        self.swaps += 1
        self.failed = None
        self.last_swap = {
            "at": new.loaded_at,
            "from": current.pointer.live_id,
            "to": new.pointer.live_id,
            "route_revision": new.route_revision,
            "seconds": round(time.perf_counter() - started, 4),
        }
        return True

    # -- reports ---------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        runtime, failed = self.runtime, self.failed
        journal = self.log.health()
        status = "ok" if runtime.serving else "unavailable"
        if failed is not None or self.poll_error is not None or journal["degraded"]:
            status = "degraded" if runtime.serving else status
        return {
            "status": status,
            "env": self.env,
            "live": runtime.pointer.live_id,
            "label": runtime.live_label,
            "serving": [a.version_id for a in runtime.arms.values()],
            "loaded_at": runtime.loaded_at,
            "started_at": self.started_at,
            "swaps": self.swaps,
            "last_swap": self.last_swap,
            "failed_swap": failed.to_json() if failed is not None else None,
            "last_poll": self.last_poll,
            "poll_error": self.poll_error,
            "journal": journal,
            "shadow": {
                "scored": self.shadows.scored,
                "skipped": self.shadows.skipped,
                "failed": self.shadows.failed,
            },
        }

    def version(self) -> dict[str, Any]:
        return self.runtime.to_json()

    def observe_metrics(self) -> None:
        """Bring the gauges and the drained count up to date, for a scrape of /metrics."""
        journal = self.log.health()
        self.metrics.backlog(journal["backlog"])
        self.metrics.ledger_available(not journal["degraded"])
        written = journal["written"]
        if written > self._logged_seen:
            self.metrics.predictions_logged(written - self._logged_seen)
            self._logged_seen = written

    # -- shutdown --------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop polling, score the queued shadows, then drain the journal into the ledger (what
        it will not take in time stays journaled, replayed at the next start)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.executor.shutdown(wait=True)
        self.shadows.close()
        if not self.log.close():
            log.error(
                "%s: %d answer(s) not yet in the ledger stay journaled in %s; the next "
                "`mledger serve %s` writes them",
                self.env,
                self.log.drainer.queued,
                self.log.directory,
                self.env,
            )
        for model in self.runtime.models():
            model.release()
