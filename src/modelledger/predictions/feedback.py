"""Feedback: ground truth (a label, whether the answer was correct, a failure cluster) for
requests the inference log holds, in process or from a JSONL file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.ledger.home import Ledger, now
from modelledger.predictions.batch import BadRecord, describe_errors
from modelledger.predictions.importer import HashingLines, file_format, require_file
from modelledger.predictions.json_text import BadLine, jsonl_records
from modelledger.predictions.records import validate_feedback
from modelledger.predictions.store import reads, writes


@dataclass(frozen=True)
class FeedbackReport:
    recorded: int
    repeated: int  # identical to feedback already recorded (a file imported twice): skipped
    unknown: tuple[tuple[int, str], ...]  # (position, request id), the first few
    unknown_count: int
    event_seq: int | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded,
            "repeated": self.repeated,
            "unknown_count": self.unknown_count,
            "unknown": [{"position": p, "request_id": r} for p, r in self.unknown],
            "event": self.event_seq,
            "source": self.source,
        }


def record_feedback(
    ledger: Ledger,
    records: Iterable[tuple[int, Any]],
    source: str,
    where: Callable[[int], str],
    details: dict[str, Any] | None = None,
    keep: int = 20,
) -> FeedbackReport:
    """Append ground truth for logged requests. A malformed record refuses the whole input
    (named, nothing written); feedback for a request id the log does not hold is left out,
    counted and reported, and the rest is recorded. Feedback identical to what a request already
    has is skipped, so importing the same file twice records it once."""
    items = []
    errors: list[BadRecord] = []
    error_count = 0
    for position, record in records:
        try:
            if type(record) is BadLine:
                raise InvalidInput(record.message)
            items.append((position, validate_feedback(record)))
        except InvalidInput as exc:
            error_count += 1
            if len(errors) < 5:
                errors.append(BadRecord(position, str(exc)))
    if error_count:
        raise InvalidInput(describe_errors(errors, error_count, where) + "; nothing was recorded")
    with ledger.db.write() as conn:
        known = reads.known_requests(conn, [i.request_id for _, i in items])
        seen = reads.recorded_feedback(conn, known)
        fresh = [i for _, i in items if i.request_id in known]
        good = [i for i in dict.fromkeys(fresh) if i not in seen]
        repeated = len(fresh) - len(good)
        missing = [(p, i.request_id) for p, i in items if i.request_id not in known]
        event_seq = None
        if good:
            from modelledger.ledger import events

            at = now()
            writes.insert_feedback(conn, good, at, ledger.user, source)
            payload = {
                "count": len(good),
                "unknown": len(missing),
                "source": source,
                **(details or {}),
            }
            event_seq = events.append(
                conn, "feedback.imported", "feedback", ledger.user, at, payload
            ).seq
    return FeedbackReport(
        len(good), repeated, tuple(missing[:keep]), len(missing), event_seq, source
    )


def import_feedback(ledger: Ledger, path: Path) -> FeedbackReport:
    """Feedback from a JSONL file: ``{"request_id": …, "label": … | "was_correct": …,
    "failure_cluster": …}`` per line."""
    require_file(path)
    if file_format(path) != "jsonl":
        raise InvalidInput(f"{path.name}: feedback is read from JSONL (one JSON object per line)")
    lines = HashingLines(path)
    records = list(jsonl_records(lines))
    return record_feedback(
        ledger,
        records,
        str(path),
        lambda p: f"{path.name} line {p}",
        {"file": path.name, "file_sha256": lines.sha.hexdigest()},
    )
