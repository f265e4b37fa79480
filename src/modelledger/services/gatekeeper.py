"""Running an environment's gate: the candidate against what is live, on the policy's eval set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from modelledger.domain.environment import Environment
from modelledger.domain.gate import (
    DEFAULT_POLICY,
    GatePolicy,
    GateReport,
    Scores,
    Subject,
    evaluate_gate,
    parse_policy,
    policy_sha256,
)
from modelledger.domain.version import ModelVersion
from modelledger.services.environments import require_env
from modelledger.services.ledger import Ledger
from modelledger.services.resolve import resolve_version
from modelledger.store import environments, evals, versions


def subject_of(version: ModelVersion) -> Subject:
    repro = version.reproducibility
    code = version.tuple.code
    return Subject(
        id=version.id,
        label=version.label,
        registered_by=version.registered_by,
        clean_code=code is not None and not code.dirty,
        has_lock=version.tuple.lock_sha256 is not None,
        data_pinned=any(d.role in ("train", "finetune") for d in version.tuple.data),
        reproducible=repro.status == "reproducible",
        reproducibility_reasons=repro.reasons,
    )


def env_policy(conn: Connection, env: Environment) -> tuple[GatePolicy, str]:
    if env.policy_sha256 is None:
        return DEFAULT_POLICY, policy_sha256(DEFAULT_POLICY)
    return parse_policy(environments.policy(conn, env.policy_sha256)), env.policy_sha256


def _scores(conn: Connection, subject_id: str, eval_set: str | None) -> Scores | None:
    if eval_set is None:
        return None
    found = evals.result_on(conn, subject_id, eval_set)
    return Scores(found.id, found.metrics, found.slices) if found else None


@dataclass(frozen=True)
class GateDecision:
    env: str
    candidate: ModelVersion
    live_id: str | None
    policy: GatePolicy
    policy_sha256: str
    report: GateReport


def decide(
    conn: Connection,
    env_name: str,
    ref: str,
    approvers: Sequence[str] = (),
    check_approvals: bool = True,
) -> GateDecision:
    env = require_env(conn, env_name)
    candidate = versions.get(conn, resolve_version(conn, ref))
    assert candidate is not None
    policy, sha = env_policy(conn, env)
    live = versions.get(conn, env.current_id) if env.current_id else None
    report = evaluate_gate(
        policy,
        subject_of(candidate),
        _scores(conn, candidate.id, policy.eval_set),
        subject_of(live) if live else None,
        _scores(conn, live.id, policy.eval_set) if live else None,
        approvers,
        check_approvals=check_approvals,
    )
    return GateDecision(env.name, candidate, env.current_id, policy, sha, report)


def check(ledger: Ledger, ref: str, env: str, approvers: Sequence[str] = ()) -> GateDecision:
    """``gate check``: approvals are only judged when approvers are named."""
    with ledger.db.read() as conn:
        return decide(conn, env, ref, approvers, check_approvals=bool(approvers))
