"""Eval sets and results through the registry server (``MLEDGER_URL``): an eval set's files go
as a snapshot's do (only what the server lacks), a report file as a blob before the result that
names it; the result the server records is checked here to hash to the numbers sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelledger.core.errors import CheckFailed
from modelledger.core.names import validate_name
from modelledger.data.remote import result_of, send_tree
from modelledger.data.snapshot import Progress, SnapshotResult
from modelledger.evals.results import EvalResult, result_id
from modelledger.remote.blobs import RemoteBlobs
from modelledger.remote.session import Remote


def create_eval_set_remote(
    remote: Remote, name: str, paths: list[Path], progress: Progress | None = None
) -> tuple[SnapshotResult, bool]:
    validate_name(name, "eval set name")
    tree = send_tree(RemoteBlobs(remote), paths, progress)
    answer = remote.post("/eval-sets", {"name": name, "tree": tree.sha256})
    return result_of(answer, tree.sha256), bool(answer["eval_set_created"])


def record_remote(
    remote: Remote,
    ref: str,
    eval_set: str,
    metrics: dict[str, float],
    slices: dict[str, dict[str, float]],
    report: Path | None,
) -> tuple[EvalResult, str, bool, list[str]]:
    """(the result, the version's label, whether it is new, warnings)."""
    report_sha = RemoteBlobs(remote).ensure_file(report) if report is not None else None
    body: dict[str, Any] = {"ref": ref, "eval_set": eval_set, "metrics": metrics, "slices": slices}
    if report_sha is not None:
        body["report_sha256"] = report_sha
    answer = remote.post("/evals", body)
    result = EvalResult(
        answer["id"], answer["subject"], answer["eval_set"], answer["metrics"], answer["slices"],
        report_sha, answer["created_at"], answer["created_by"],
    )  # fmt: skip
    if result_id(result.subject_id, result.eval_set_id, metrics, slices, report_sha) != result.id:
        raise CheckFailed(f"the server's eval result {result.id} is not of the numbers sent")
    return result, answer["label"], bool(answer["created"]), list(answer["warnings"])
