"""Rehearsal: can the environment's current version, and the version a rollback would return to,
actually be served? Bytes re-hashed, lock present, the artifact loads in a fresh process, and the
target accepts the inputs today's callers send. Rollback runs the same checks on its target."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import Connection

from modelledger.core.errors import CheckFailed, MledgerError, NotFound
from modelledger.ledger import cards, events
from modelledger.ledger.home import Ledger, now
from modelledger.models import deployables
from modelledger.models.contract import contract_issues
from modelledger.models.deployables import Deployable
from modelledger.models.reads import verify
from modelledger.models.resolve import resolve_subject
from modelledger.models.version import ModelVersion
from modelledger.releases import store as environments
from modelledger.releases.environment import (
    Move,
    check_rollback_target,
    default_rollback_target,
    require_target,
)
from modelledger.releases.environments import require_env

Status = Literal["pass", "fail", "skip"]
# how many recent rehearsals a rollback looks through for a passed load of its target
_REUSE_WINDOW = 20


@dataclass(frozen=True)
class Check:
    role: str  # "current" or "target"
    id: str | None
    label: str | None
    name: str  # artifact | lock | loads | contract | target
    status: Status
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "id": self.id,
            "label": self.label,
            "check": self.name,
            "status": self.status,
            "detail": self.detail,
        }


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]


@dataclass(frozen=True)
class Plan:
    """What a rehearsal or rollback works on, read in one transaction."""

    env: str
    current: Deployable
    target: Deployable | None
    target_error: str | None
    contracts: dict[str, dict[str, str] | None]  # model version id → declared inputs
    rehearsed_loads: dict[str, str]  # version id → "event #N at …" of a passed load check


def _inputs(conn: Connection, d: Deployable) -> dict[str, str] | None:
    """A model's declared inputs (its card); systems declare no serving contract yet."""
    if d.is_system:
        return None
    found = cards.latest(conn, "model", d.id)
    return found[1].get("inputs") if found else None


def _rehearsed_loads(conn: Connection, env: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for event in reversed(events.listing(conn, subject=env, kind="rehearsal", limit=_REUSE_WINDOW)):
        for check in event.payload.get("checks", []):
            if check.get("check") == "loads" and check.get("status") == "pass" and check.get("id"):
                out.setdefault(check["id"], f"rehearsal event #{event.seq} at {event.at}")
    return out


def choose_target(
    conn: Connection, env: str, current: Deployable, history: list[Move], to: str | None
) -> str:
    """``--to``; else the current version's card ``rollback_target``; else what was live before."""
    if to:
        return check_rollback_target(env, history, current.id, resolve_subject(conn, to))
    card = None if current.is_system else cards.latest(conn, "model", current.id)
    named = card[1].get("rollback_target") if card else None
    if named:
        return check_rollback_target(env, history, current.id, resolve_subject(conn, named))
    return require_target(env, history, default_rollback_target(history, current.id), current.id)


def plan(conn: Connection, env_name: str, to: str | None = None, strict: bool = True) -> Plan:
    env = require_env(conn, env_name)
    if env.current_id is None:
        raise NotFound(f"nothing is live in {env_name}: there is nothing to rehearse or roll back")
    current = deployables.load(conn, env.current_id)
    history = environments.history(conn, env_name)
    target, error = None, None
    try:
        target = deployables.load(conn, choose_target(conn, env_name, current, history, to))
    except MledgerError as exc:
        if strict:
            raise
        error = str(exc)
    return Plan(
        env=env_name,
        current=current,
        target=target,
        target_error=error,
        contracts={d.id: _inputs(conn, d) for d in (current, target) if d is not None},
        rehearsed_loads=_rehearsed_loads(conn, env_name),
    )


def _load_check(ledger: Ledger, role: str, v: ModelVersion, reuse: dict[str, str]) -> Check:
    from modelledger.models.checkout import artifact_name, write_artifact
    from modelledger.models.loading import load_in_subprocess

    def row(status: Status, detail: str) -> Check:
        return Check(role, v.id, v.label, "loads", status, detail)

    if v.loader is None:
        return row("skip", "no loader declared at registration (--loader)")
    if v.id in reuse:
        return row("pass", f"loaded with {v.loader} in {reuse[v.id]}; bytes re-verified now")
    art = v.tuple.artifact
    with tempfile.TemporaryDirectory(prefix="mledger-rehearse-") as tmp:
        try:
            folder = Path(tmp) / "artifact" if art.kind == "tree" else Path(tmp)
            path, _ = write_artifact(
                ledger.blobs, art, artifact_name(v.manifest), folder, "the artifact"
            )
        except (MledgerError, OSError) as exc:
            return row("fail", f"could not materialise the artifact: {exc}")
        result = load_in_subprocess(v.loader, path)
    if result.ok:
        methods = ", ".join(result.interface)
        return row(
            "pass", f"loaded with {v.loader} in a fresh process ({result.seconds:.2f} s; {methods})"
        )
    return row("fail", f"{v.loader} could not load it: {result.detail}")


def deployable_checks(
    ledger: Ledger, role: str, d: Deployable, reuse: dict[str, str] | None = None
) -> list[Check]:
    """Every model it pins (bytes, lock, load) and, for a system, every snapshot it pins."""
    out = [c for v in d.models for c in version_checks(ledger, role, v, reuse)]
    for snapshot_id in d.snapshots:
        out.append(_snapshot_check(ledger, role, d, snapshot_id))
    if not d.models:
        out.append(Check(role, d.id, d.label, "models", "fail", "pins no model version"))
    return out


def _snapshot_check(ledger: Ledger, role: str, d: Deployable, snapshot_id: str) -> Check:
    from modelledger.data.snapshot import get_snapshot

    label = f"{d.label} {snapshot_id[:15]}"
    try:
        snap = get_snapshot(ledger, snapshot_id)
        blobs = ledger.blobs
        if not blobs.verify(snap.tree_sha256):
            return Check(
                role, snapshot_id, label, "snapshot", "fail", "tree blob missing or corrupt"
            )
        tree = blobs.get_tree(snap.tree_sha256)
        bad = [
            e.path for e in tree.entries if not blobs.has(e.sha256) or not blobs.verify(e.sha256)
        ]
    except MledgerError as exc:
        return Check(role, snapshot_id, label, "snapshot", "fail", str(exc))
    if bad:
        return Check(
            role,
            snapshot_id,
            label,
            "snapshot",
            "fail",
            "missing or corrupt: " + ", ".join(bad[:5]),
        )
    return Check(
        role, snapshot_id, label, "snapshot", "pass", f"{len(tree.entries)} file(s) re-hashed"
    )


def version_checks(
    ledger: Ledger, role: str, v: ModelVersion, reuse: dict[str, str] | None = None
) -> list[Check]:
    out = []
    report = verify(ledger, v.id)
    if report.ok:
        out.append(
            Check(role, v.id, v.label, "artifact", "pass", f"{report.checked} blob(s) re-hashed")
        )
    else:
        out.append(Check(role, v.id, v.label, "artifact", "fail", "; ".join(report.bad)))
    lock = v.tuple.lock_sha256
    if lock is None:
        out.append(Check(role, v.id, v.label, "lock", "fail", "no dependency lock was recorded"))
    elif not ledger.blobs.has(lock) or not ledger.blobs.verify(lock):
        out.append(
            Check(
                role, v.id, v.label, "lock", "fail", f"lock blob sha256:{lock} missing or corrupt"
            )
        )
    else:
        out.append(Check(role, v.id, v.label, "lock", "pass", f"sha256:{lock[:12]}"))
    if report.ok:
        out.append(_load_check(ledger, role, v, reuse or {}))
    else:
        out.append(
            Check(role, v.id, v.label, "loads", "fail", "not attempted: the bytes did not verify")
        )
    return out


def contract_check(p: Plan) -> Check:
    assert p.target is not None
    tv = p.target
    serving, target = p.contracts.get(p.current.id), p.contracts.get(tv.id)

    def row(status: Status, detail: str) -> Check:
        return Check("target", tv.id, tv.label, "contract", status, detail)

    if serving is None and target is None:
        return row("skip", "neither version declares its inputs (model card `inputs:`)")
    if target is None:
        return row(
            "fail", f"{p.current.label} declares its inputs but the target does not; amend its card"
        )
    if serving is None:
        return row(
            "fail",
            f"the target declares inputs but {p.current.label} does not, so compatibility is unknown",
        )
    issues = contract_issues(serving, target)
    if issues:
        return row("fail", "; ".join(issues))
    return row("pass", f"{len(target)} input(s) compatible with {p.current.label}")


def target_checks(ledger: Ledger, p: Plan, reuse: dict[str, str] | None = None) -> list[Check]:
    if p.target is None:
        return [
            Check("target", None, None, "target", "fail", p.target_error or "no rollback target")
        ]
    return [*deployable_checks(ledger, "target", p.target, reuse), contract_check(p)]


@dataclass(frozen=True)
class Rehearsal:
    env: str
    current: Deployable
    target: Deployable | None
    checks: list[Check]
    event_seq: int

    @property
    def passed(self) -> bool:
        return not failures(self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "passed": self.passed,
            "current": {"id": self.current.id, "label": self.current.label},
            "target": {"id": self.target.id, "label": self.target.label} if self.target else None,
            "checks": [c.to_json() for c in self.checks],
            "event": self.event_seq,
        }


def rehearse(ledger: Ledger, env: str) -> Rehearsal:
    """Run every check (loads are always re-run here) and record the outcome as an event."""
    with ledger.db.read() as conn:
        p = plan(conn, env, strict=False)
    checks = [*deployable_checks(ledger, "current", p.current), *target_checks(ledger, p)]
    passed = not failures(checks)
    with ledger.db.write() as conn:
        at = now()
        payload = {
            "env": env,
            "passed": passed,
            "current": p.current.id,
            "target": p.target.id if p.target else None,
            "checks": [c.to_json() for c in checks],
        }
        event = events.append(conn, "rehearsal", env, ledger.user, at, payload)
    return Rehearsal(env, p.current, p.target, checks, event.seq)


class RehearsalFailed(CheckFailed):
    def __init__(self, message: str, checks: list[Check]) -> None:
        self.checks = checks
        super().__init__(message)
