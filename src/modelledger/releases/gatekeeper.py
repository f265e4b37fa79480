"""Running an environment's gate: the candidate against what is live, on the policy's eval set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from modelledger.evals import store as evals
from modelledger.ledger.home import Ledger
from modelledger.models import deployables
from modelledger.models.deployables import Deployable
from modelledger.models.version import TRAINING_ROLES
from modelledger.releases import store as environments
from modelledger.releases.environment import Environment
from modelledger.releases.environments import require_env
from modelledger.releases.gate import (
    DEFAULT_POLICY,
    GatePolicy,
    GateReport,
    Scores,
    Subject,
    evaluate_gate,
    parse_policy,
    policy_sha256,
)


def subject_of(d: Deployable) -> Subject:
    """A system meets a requirement when every model it pins does."""
    reasons: list[str] = []
    clean = lock = data = repro = bool(d.models)
    for v in d.models:
        code = v.tuple.code
        clean &= code is not None and not code.dirty
        lock &= v.tuple.lock_sha256 is not None
        data &= any(r.role in TRAINING_ROLES for r in v.tuple.data)
        status = v.reproducibility
        repro &= status.status == "reproducible"
        prefix = f"{v.label}: " if d.is_system else ""
        reasons += [prefix + r for r in status.reasons]
    if not d.models:
        reasons.append("pins no model version")
    return Subject(
        id=d.id,
        label=d.label,
        registered_by=d.registered_by,
        clean_code=clean,
        has_lock=lock,
        data_pinned=data,
        reproducible=repro,
        reproducibility_reasons=tuple(reasons),
    )


def env_policy(conn: Connection, env: Environment) -> tuple[GatePolicy, str]:
    if env.policy_sha256 is None:
        return DEFAULT_POLICY, policy_sha256(DEFAULT_POLICY)
    return parse_policy(environments.policy(conn, env.policy_sha256)), env.policy_sha256


def scores_on(conn: Connection, subject_id: str, eval_set: str | None) -> Scores | None:
    if eval_set is None:
        return None
    found = evals.result_on(conn, subject_id, eval_set)
    return Scores(found.id, found.metrics, found.slices) if found else None


@dataclass(frozen=True)
class GateDecision:
    env: str
    candidate: Deployable
    live_id: str | None
    live_label: str | None
    policy: GatePolicy
    policy_sha256: str
    report: GateReport


def decide(
    conn: Connection,
    env_name: str,
    ref: str,
) -> GateDecision:
    """The evidence gate; who approves is judged from signed approvals (``workflow``)."""
    env = require_env(conn, env_name)
    candidate = deployables.resolve(conn, ref)
    policy, sha = env_policy(conn, env)
    live = deployables.load(conn, env.current_id) if env.current_id else None
    report = evaluate_gate(
        policy,
        subject_of(candidate),
        scores_on(conn, candidate.id, policy.eval_set),
        subject_of(live) if live else None,
        scores_on(conn, live.id, policy.eval_set) if live else None,
    )
    live_label = live.label if live else None
    return GateDecision(env.name, candidate, env.current_id, live_label, policy, sha, report)


def decision_json(d: GateDecision) -> dict[str, Any]:
    """``gate check --json``, and what its table is printed from."""
    return {
        "env": d.env,
        "policy_sha256": d.policy_sha256,
        **d.report.to_json(),
        "candidate_label": d.candidate.label,
        "live_label": d.live_label,
        "approvals_needed": d.policy.approvals_needed,
    }


def check(ledger: Ledger, ref: str, env: str) -> GateDecision:
    """``gate check``: the evidence, as a promotion would judge it."""
    with ledger.db.read() as conn:
        return decide(conn, env, ref)
