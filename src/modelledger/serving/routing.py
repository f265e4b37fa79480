"""Routing an environment's traffic by pinned version: canaries, A/B arms and shadows.

A route is set against the version live in the environment (its primary arm). A promotion or a
rollback moves the pointer and so ends the experiment: a route whose primary is no longer live is
not in force, and the environment routes everything to what is live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from modelledger.core.errors import CheckFailed, InvalidInput, NotFound
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.models import deployables
from modelledger.models.resolve import resolve_subject
from modelledger.releases.environments import check_unmoved, require_env
from modelledger.serving import store as routes
from modelledger.serving.route_policy import PRIMARY, RoutePolicy, make_policy, parse_arms


@dataclass(frozen=True)
class Route:
    env: str
    live_id: str | None
    policy: RoutePolicy | None  # None: nothing live, nothing to route
    revision: int | None  # None: the implicit single-arm route
    set_at: str | None = None
    set_by: str | None = None

    def to_json(self, labels: dict[str, str] | None = None) -> dict[str, Any]:
        names = labels or {}
        p = self.policy
        return {
            "env": self.env,
            "live": self.live_id,
            "revision": self.revision,
            "set_at": self.set_at,
            "set_by": self.set_by,
            "digest": p.digest() if p else None,
            "sticky_key": p.sticky_key if p else None,
            "arms": [
                {"arm": a.name, "id": a.ref, "label": names.get(a.ref), "percent": a.percent}
                for a in p.arms
            ]
            if p
            else [],
            "shadows": [{"id": s, "label": names.get(s)} for s in p.shadows] if p else [],
        }


def single_arm(live_id: str, sticky_key: str | None = None) -> RoutePolicy:
    return make_policy([(live_id, 100.0)], [], sticky_key)


def current_route(conn: Connection, env_name: str) -> Route:
    env = require_env(conn, env_name)
    if env.current_id is None:
        return Route(env_name, None, None, None)
    found = routes.latest(conn, env_name)
    if found is None:
        return Route(env_name, env.current_id, single_arm(env.current_id), None)
    if found["base_id"] != env.current_id:
        # the experiment ended with the move; callers keep sending the sticky field, so it stays
        sticky = found["policy"].get("sticky_key")
        return Route(env_name, env.current_id, single_arm(env.current_id, sticky), None)
    return Route(
        env_name,
        env.current_id,
        RoutePolicy.from_json(found["policy"]),
        found["revision"],
        found["at"],
        found["set_by"],
    )


def show(ledger: Ledger, env: str) -> dict[str, Any]:
    with ledger.db.read() as conn:
        route = current_route(conn, env)
        ids = (
            [a.ref for a in route.policy.arms] + list(route.policy.shadows) if route.policy else []
        )
        return route.to_json(deployables.labels(conn, ids))


def set_route(
    ledger: Ledger,
    env: str,
    arms: Sequence[str],
    approvers: Sequence[str],
    shadows: Sequence[str] = (),
    sticky_key: str | None = None,
    reason: str | None = None,
    key: Any = None,
) -> dict[str, Any]:
    """Split ``env``'s traffic. The live version must be an arm (the primary, which gives and takes
    shares); every other live arm must pass the environment's gate on its absolute floors and
    approvals, as a promotion would; shadows only score, so they are not gated. Once the
    ledger has identities, the route is signed by ``key``, an approver's for ``env``, who is
    then its one approver; typed ``approvers`` are refused. Before, typed names are what
    there is."""
    from modelledger.releases.gatekeeper import env_policy, scores_on, subject_of
    from modelledger.releases.signer import signer_for, signer_or_names

    names = [a.strip() for a in approvers if a and a.strip()]
    with ledger.db.read() as conn:
        signer, names = signer_or_names(conn, "route.set", env, key, names)
    if not names:
        raise InvalidInput("route set needs --approver NAME: who approved this traffic split")
    wanted = parse_arms(arms)
    with ledger.db.read() as conn:
        state = require_env(conn, env)
        if state.current_id is None:
            raise NotFound(f"nothing is live in {env}: promote a version before routing traffic")
        resolved = [(resolve_subject(conn, ref), pct) for ref, pct in wanted]
        shadow_ids = [resolve_subject(conn, ref) for ref in shadows]
        if state.current_id not in {r for r, _ in resolved}:
            live = deployables.labels(conn, [state.current_id]).get(state.current_id)
            name = live or state.current_id
            raise InvalidInput(
                f"the live version {name} must be one of the arms (it is the primary); "
                f"add --arm {name}=PCT"
            )
        before = current_route(conn, env)
        policy = make_policy(
            resolved, shadow_ids, sticky_key, previous=before.policy, primary=state.current_id
        )
        if (
            before.revision is not None
            and before.policy
            and policy.digest() == before.policy.digest()
        ):
            return {
                **before.to_json(deployables.labels(conn, [*dict(resolved), *shadow_ids])),
                "event": None,
            }
        gate, gate_sha = env_policy(conn, state)
        from modelledger.releases.gate import GateReport, evaluate_gate, named_approval_rows

        reports = {}
        for arm in policy.arms:
            if arm.ref == state.current_id:
                continue
            candidate = deployables.load(conn, arm.ref)
            subject = subject_of(candidate)
            report = evaluate_gate(
                gate, subject, scores_on(conn, arm.ref, gate.eval_set), None, None
            )
            rows = (*report.criteria, *named_approval_rows(gate, subject, names))
            reports[arm.ref] = GateReport(rows, report.candidate, report.live, report.eval_set)
    failed = {ref: r for ref, r in reports.items() if not r.passed}
    if failed:
        why = "; ".join(
            f"{ref[:15]}: " + ", ".join(f"{c.name} ({c.detail})" for c in r.failures())
            for ref, r in failed.items()
        )
        raise CheckFailed(
            f"route refused: a canary arm fails {env}'s gate floors: {why}; nothing was changed"
        )
    with ledger.db.write() as conn:
        check_unmoved(conn, env, state.current_id, gate_sha)
        at = now()
        payload = {
            "env": env,
            "live": state.current_id,
            "route": policy.to_json(),
            "digest": policy.digest(),
            "approvers": names,
            "requester": ledger.user,
            "reason": reason,
            "policy_sha256": gate_sha,
            "gates": {ref: r.to_json() for ref, r in reports.items()},
        }
        user = ledger.user
        if signer is not None:
            signer = signer_for(conn, "route.set", env, key)  # again, under the write lock
            assert signer is not None
            user = signer.name
            payload = signer.seal("route.set", {**payload, "requester": user})
        revision = routes.add(
            conn,
            env,
            base_id=state.current_id,
            policy=policy.to_json(),
            digest=policy.digest(),
            at=at,
            user=user,
            event_seq=events.next_seq(conn),
        )
        event = events.append(conn, "route.set", env, user, at, payload)
    out = show(ledger, env)
    out["event"] = event.seq
    assert out["revision"] == revision
    return out


def assign(ledger: Ledger, env: str, key: str) -> dict[str, Any]:
    """Which arm a sticky key lands on now (``route show --key``): to watch assignment."""
    from modelledger.serving.route_policy import bucket

    with ledger.db.read() as conn:
        route = current_route(conn, env)
        if route.policy is None:
            raise NotFound(f"nothing is live in {env}")
        arm = route.policy.assign(key)
        label = deployables.labels(conn, [arm.ref]).get(arm.ref)
    return {
        "key": key,
        "bucket": bucket(key),
        "arm": arm.name,
        "id": arm.ref,
        "label": label,
        "primary": arm.name == PRIMARY,
    }


def show_json(ledger: Ledger, env: str, keys: list[str] | str | None = None) -> dict[str, Any]:
    """As ``route show --json`` prints it: the route, and where each sticky key lands."""
    given = [keys] if isinstance(keys, str) else list(keys or [])
    route = show(ledger, env)
    return {**route, "assignments": [assign(ledger, env, k) for k in given]} if given else route
