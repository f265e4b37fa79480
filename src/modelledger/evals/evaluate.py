"""Eval sets and results: record scores pinned to an eval set and compare like with like (what
still needs scoring when an eval set evolves is ``releases.stale``: it reads what went live)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelledger.core.errors import CheckFailed, Conflict, InvalidInput
from modelledger.core.ids import short
from modelledger.data.manifest import Snapshot
from modelledger.data.resolve import resolve_snapshot
from modelledger.data.snapshot import Progress, SnapshotRequest, SnapshotResult, snapshot
from modelledger.data.store import snapshots
from modelledger.evals import store as evals
from modelledger.evals.results import EvalResult, result_id
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.models import deployables
from modelledger.models.register import leakage_warnings
from modelledger.models.version import DataRef


def create_eval_set(
    ledger: Ledger, name: str, paths: list[Path], progress: Progress | None = None
) -> tuple[SnapshotResult, bool]:
    """Snapshot the files and mark the snapshot as an eval set; (snapshot, newly an eval set)."""
    result = snapshot(ledger, SnapshotRequest(paths=paths, name=name), progress)
    return result, mark_eval_set(ledger, result.snapshot, name)


def mark_eval_set(ledger: Ledger, snap: Snapshot, name: str) -> bool:
    """Mark the snapshot as the eval set ``name``: whether it newly is one."""
    with ledger.db.write() as conn:
        at = now()
        created = evals.add_eval_set(conn, snap.id, name, at, ledger.user)
        if created:
            payload = {"id": snap.id, "name": name, "files": snap.file_count, "size": snap.size}
            events.append(conn, "eval_set.created", snap.id, ledger.user, at, payload)
    return created


def list_eval_sets(ledger: Ledger, name: str | None = None) -> list[dict[str, Any]]:
    with ledger.db.read() as conn:
        return evals.list_eval_sets(conn, name)


@dataclass(frozen=True)
class Recorded:
    result: EvalResult
    label: str
    created: bool
    warnings: tuple[str, ...] = ()


def record(
    ledger: Ledger,
    ref: str,
    eval_set: str,
    metrics: dict[str, float],
    slices: dict[str, dict[str, float]],
    report: Path | None = None,
    report_sha256: str | None = None,
) -> Recorded:
    """Store an immutable result of ``ref`` on ``eval_set``. One result per (version, eval set):
    re-recording the same numbers returns it; different numbers are refused, so a gate cannot be
    passed by re-scoring until the dice fall well. The report: a file to store, or a blob
    stored already (``report_sha256``, sent to the registry server first)."""
    if not metrics and not slices:
        raise InvalidInput("give the scores: --metrics FILE or --metric NAME=NUMBER")
    if report is not None and not report.is_file():
        raise InvalidInput(f"--report {report}: no such file")
    if report_sha256 is not None and not ledger.blobs.has(report_sha256):
        raise InvalidInput(f"report sha256:{report_sha256} is not stored: send it first")
    with ledger.db.read() as conn:
        version = deployables.resolve(conn, ref)
        set_id = resolve_snapshot(conn, eval_set)
        if not evals.is_eval_set(conn, set_id):
            raise InvalidInput(
                f"{set_id} is a snapshot but not an eval set: create one with "
                "`mledger eval set create NAME PATH`"
            )
    report_sha = report_sha256
    if report is not None:
        report_sha = ledger.blobs.put_file(report).sha256
    rid = result_id(version.id, set_id, metrics, slices, report_sha)
    with ledger.db.write() as conn:
        existing = evals.result_on(conn, version.id, set_id)
        if existing is not None:
            if existing.id == rid:
                return Recorded(existing, version.label, created=False)
            raise Conflict(
                f"{version.label} already has a result on {short(set_id)} ({existing.id}); "
                "results are immutable — score a new eval set to record different numbers"
            )
        at = now()
        result = EvalResult(rid, version.id, set_id, metrics, slices, report_sha, at, ledger.user)
        evals.insert_result(conn, result)
        events.append(conn, "eval.recorded", version.id, ledger.user, at, result.to_json())
    held = [*(d for v in version.models for d in v.tuple.data), DataRef(set_id, "eval")]
    return Recorded(result, version.label, True, tuple(leakage_warnings(ledger, held)))


def compare(ledger: Ledger, a: str, b: str) -> dict[str, Any]:
    """Metrics and slices side by side on every eval set both were scored on; refuses when none."""
    with ledger.db.read() as conn:
        va, vb = deployables.resolve(conn, a), deployables.resolve(conn, b)
        ra = {r.eval_set_id: r for r in evals.results_of(conn, va.id)}
        rb = {r.eval_set_id: r for r in evals.results_of(conn, vb.id)}
        common = sorted(set(ra) & set(rb))
        if not common:

            def sets(results: dict[str, EvalResult]) -> str:
                return ", ".join(short(s) for s in results) or "none"

            raise CheckFailed(
                f"{va.label} and {vb.label} were not scored on a common eval set, so their scores "
                f"are not comparable ({va.label}: {sets(ra)}; {vb.label}: {sets(rb)}); "
                "record both on the same set with `mledger eval record`"
            )
        names = {s: snap.name for s in common if (snap := snapshots.get(conn, s))}
    return {
        "a": {"id": va.id, "label": va.label},
        "b": {"id": vb.id, "label": vb.label},
        "eval_sets": [
            _compare_on(set_id, names.get(set_id, ""), ra[set_id], rb[set_id]) for set_id in common
        ],
        "only_a": sorted(set(ra) - set(rb)),
        "only_b": sorted(set(rb) - set(ra)),
    }


def _rows(a: dict[str, float], b: dict[str, float]) -> list[dict[str, Any]]:
    out = []
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        delta = None if x is None or y is None else round(y - x, 12)  # no float noise
        out.append({"metric": name, "a": x, "b": y, "delta": delta})
    return out


def _compare_on(set_id: str, name: str, ra: EvalResult, rb: EvalResult) -> dict[str, Any]:
    slices = {
        s: _rows(ra.slices.get(s, {}), rb.slices.get(s, {}))
        for s in sorted(set(ra.slices) | set(rb.slices))
    }
    return {
        "eval_set": set_id,
        "name": name,
        "results": {"a": ra.id, "b": rb.id},
        "metrics": _rows(ra.metrics, rb.metrics),
        "slices": slices,
    }
