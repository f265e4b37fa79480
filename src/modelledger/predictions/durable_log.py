"""The serving layer's inference log: durable before the answer (journal.py), in the ledger soon
after (drain.py), one answer per request id across processes (claims.py).

At start-up the journals of processes that died are replayed into the ledger first (in the
background, beside new requests). ``close`` drains everything; when the ledger will not take it
in time the journal stays on disk and the next start replays it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import orjson

from modelledger.core.errors import InvalidInput
from modelledger.ledger.home import Ledger
from modelledger.predictions import journal as jr
from modelledger.predictions.claims import Claims, store_for
from modelledger.predictions.drain import Drainer
from modelledger.predictions.ingest import mint_request_id
from modelledger.releases.environment import validate_env_name

log = logging.getLogger(__name__)

MAX_BACKLOG = 2_000_000  # records answered and not yet in the ledger, before refusing more
STALLED_AFTER = 5.0  # seconds of a ledger refusing or holding a write before health says so


def _request_ids(payloads: list[bytes]) -> list[str]:
    """The request ids of journaled records (one that is not JSON the drain reports)."""
    out = []
    for payload in payloads:
        try:
            request_id = orjson.loads(payload).get("request_id")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(request_id, str):
            out.append(request_id)
    return out


def _refuse(directory: Path, why: str) -> None:
    raise InvalidInput(f"{directory}: cannot keep the serving journal there: {why}")


class Replayed:
    """An orphan segment's records on their way to the ledger."""

    def __init__(self, orphan: jr.Orphan) -> None:
        self.orphan = orphan
        self.records = len(orphan.scan.payloads)
        self.drained = 0


def journal_dir(ledger: Ledger, env: str, given: Path | None = None) -> Path:
    if given is not None:
        return given / env
    home = ledger.config.home
    if home is None:
        raise InvalidInput(
            "this ledger has no home folder to keep the serving journal in: name one "
            "(`mledger serve ENV --journal DIR`)"
        )
    return home / "journal" / env


class DurableLog:
    def __init__(
        self,
        ledger: Ledger,
        env: str,
        *,
        directory: Path | None = None,
        on_fsync: Callable[[float], None] | None = None,
        max_backlog: int = MAX_BACKLOG,
        max_batch: int = 5000,
    ) -> None:
        validate_env_name(env)
        self.env = env
        self.max_backlog = max_backlog
        _ = ledger.db, ledger.blobs  # open both here: the cached properties are not thread-safe
        with ledger.db.read() as conn:
            from modelledger.releases.environments import require_env

            require_env(conn, env)
        self.directory = journal_dir(ledger, env, directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not os.access(self.directory, os.W_OK):
                _refuse(self.directory, "not writable")
        except OSError as exc:
            _refuse(self.directory, exc.strerror or str(exc))
        self.replayed = 0
        self.damaged: list[str] = []
        self._lock = threading.Lock()
        self.claims = Claims(ledger, env, store_for(ledger))
        self.drainer = Drainer(ledger, env, self._drained, max_batch=max_batch)
        self._replay()
        self.journal = jr.Journal(self.directory, self.drainer.put, on_fsync=on_fsync)

    def _replay(self) -> None:
        for orphan in jr.orphans(self.directory):
            if orphan.scan.damaged:
                self.damaged.append(orphan.path.name)
            piece = Replayed(orphan)
            self.replayed += piece.records
            if piece.records == 0:
                orphan.done()
                continue
            log.warning(
                "%s: replaying %d journaled answer(s) of a process that stopped",
                orphan.path.name,
                piece.records,
            )
            # answered: their ids are taken again before this process answers anything
            self.claims.reclaim(_request_ids(orphan.scan.payloads))
            self.drainer.put(piece, orphan.scan.payloads)

    def _drained(self, tag: object, n: int) -> None:
        if isinstance(tag, Replayed):
            tag.drained += n
            if tag.drained >= tag.records:
                tag.orphan.done()
        elif isinstance(tag, jr.Segment):
            self.journal.drained(tag, n)

    # -- the request path ---------------------------------------------------------------------------
    def append(self, records: list[dict[str, Any]]) -> Future[None]:
        """Journal the records of one answer; the future completes once they are durable."""
        backlog = self.drainer.queued
        if backlog >= self.max_backlog:
            refused: Future[None] = Future()
            refused.set_exception(
                jr.JournalUnavailable(
                    f"the inference log is {backlog:,} answers behind the ledger; refusing more "
                    "until it catches up"
                )
            )
            return refused
        at = time.time()
        payloads = []
        for record in records:
            if record.get("served_at") is None:
                record["served_at"] = at
            payloads.append(orjson.dumps(record))
        return self.journal.append(payloads)

    def log(self, record: Mapping[str, Any]) -> str:
        """A record nobody waits for (a shadow's answer): journaled all the same."""
        item = dict(record)
        request_id = item.get("request_id")
        if request_id is None:
            request_id = item["request_id"] = mint_request_id()
        self.append([item])
        return str(request_id)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record journaled so far is in the ledger; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.drainer.queued or self.journal.pending:
            if deadline is not None and time.monotonic() > deadline:
                return False
            self.drainer.nudge()
            time.sleep(0.01)
        return True

    @property
    def written(self) -> int:
        return self.drainer.state.written

    @property
    def rejected(self) -> int:
        return self.drainer.state.rejected

    # -- reports --------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        st = self.drainer.state
        stalled = self.drainer.stalled_for()
        return {
            "backlog": self.drainer.queued,
            "stalled_seconds": round(stalled, 1),
            "degraded": stalled >= STALLED_AFTER or st.last_error is not None,
            "last_error": st.last_error,
            "written": st.written,
            "rejected": st.rejected,
            "batches": st.batches,
            "replayed": self.replayed,
            "damaged": self.damaged,
            "fsyncs": self.journal.fsyncs,
            "journal_failures": self.journal.failures,
            "journal_error": self.journal.last_error,
            "segments": self.journal.segments,
            "directory": str(self.directory),
        }

    def close(self, timeout: float = 30.0) -> bool:
        """Stop taking records, drain them into the ledger; True when all are there. Records
        the ledger did not take in ``timeout`` stay journaled for the next start."""
        self.claims.close()
        self.journal.stop()
        drained = self.drainer.close(timeout)
        self.journal.finish()
        return drained
