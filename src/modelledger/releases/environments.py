"""Environments as people read them: what is live, since when, who moved it, and what was live at
any past instant; and the gate policy each one enforces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from modelledger.console.output import when as shown_time
from modelledger.core.clock import format_time, parse_time
from modelledger.core.errors import Conflict, InvalidInput, NotFound
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.models.deployables import labels
from modelledger.releases import store as environments
from modelledger.releases.environment import Environment, Move, validate_env_name
from modelledger.releases.signer import sign_act


def require_env(conn: Connection, name: str) -> Environment:
    env = environments.get(conn, name)
    if env is None:
        known = ", ".join(e.name for e in environments.names(conn)) or "none yet"
        raise NotFound(
            f"no environment named {name!r} (known: {known}); create it with "
            f"`mledger env create {name}` or `mledger env policy {name} FILE`"
        )
    return env


def check_unmoved(conn: Connection, env: str, expected: str | None, policy_sha: str | None) -> None:
    """Compare-and-swap: the pointer (and policy) must be what the decision was made against."""
    state = environments.get(conn, env)
    assert state is not None
    if state.current_id != expected:
        raise Conflict(
            f"{env} moved to {state.current_id} while this change was being checked "
            f"(it was {expected}); nothing was changed — run it again"
        )
    if policy_sha is not None and state.policy_sha256 not in (None, policy_sha):
        raise Conflict(f"{env}'s gate policy changed meanwhile; nothing was changed — run it again")


def _move_json(move: Move, names: dict[str, str]) -> dict[str, Any]:
    out = move.to_json()
    out["label"] = names.get(move.subject_id)
    out["previous_label"] = names.get(move.previous_id or "")
    return out


def create(ledger: Ledger, name: str) -> bool:
    """Create an empty environment; False when it already exists."""
    validate_env_name(name)
    with ledger.db.write() as conn:
        if environments.get(conn, name) is not None:
            return False
        at = now()
        environments.ensure(conn, name, at)
        events.append(conn, "env.created", name, ledger.user, at, {"env": name})
    return True


def list_envs(ledger: Ledger) -> list[dict[str, Any]]:
    with ledger.db.read() as conn:
        envs = environments.names(conn)
        names = labels(conn, {e.current_id for e in envs})
    return [
        {
            "env": e.name,
            "id": e.current_id,
            "label": names.get(e.current_id or ""),
            "since": e.since,
            "policy_sha256": e.policy_sha256,
        }
        for e in envs
    ]


def history(ledger: Ledger, name: str, limit: int | None = None) -> list[dict[str, Any]]:
    with ledger.db.read() as conn:
        require_env(conn, name)
        moves = environments.history(conn, name, limit)
        ids: set[str | None] = {m.subject_id for m in moves}
        names = labels(conn, ids | {m.previous_id for m in moves})
    return [_move_json(m, names) for m in moves]


def at(ledger: Ledger, name: str, when: str) -> dict[str, Any]:
    """What was live in the environment at ``when`` (ISO-8601; a date means its midnight UTC)."""
    moment = format_time(parse_time(when))
    if moment > now():
        raise InvalidInput(
            f"{when} is in the future: `mledger env show {name}` says what is live now"
        )
    with ledger.db.read() as conn:
        env = require_env(conn, name)
        if moment < env.created_at:
            raise InvalidInput(
                f"{name} did not exist at {shown_time(moment)}: "
                f"it was created at {shown_time(env.created_at)}"
            )
        move = environments.move_at(conn, name, moment)
        names = labels(conn, {move.subject_id} if move else set())
    return {
        "env": name,
        "at": moment,
        "id": move.subject_id if move else None,
        "label": names.get(move.subject_id) if move else None,
        "live_since": move.at if move else None,
        "move": move.to_json() if move else None,
    }


def set_policy(ledger: Ledger, name: str, path: Path, key: Any = None) -> dict[str, Any]:
    """Validate the YAML policy, store it by content hash and pin it to the environment. Once
    the ledger has identities, signed by ``key``, an admin's."""
    from modelledger.core.files import read_text, shown
    from modelledger.core.parsing import parse_mapping
    from modelledger.releases.gate import parse_policy, policy_json, policy_sha256

    validate_env_name(name)
    source = read_text(path, "policy")  # read once: the text stored is the text parsed
    data = parse_mapping(source, f"policy {shown(path)}")
    with ledger.db.write() as conn:
        if isinstance(data, dict) and isinstance(data.get("eval_set"), str):
            data = {**data, "eval_set": _eval_set(conn, data["eval_set"])}
        policy = parse_policy(data)
        sha = policy_sha256(policy)
        at_ = now()
        env = environments.ensure(conn, name, at_)
        if env.policy_sha256 == sha:
            return {"env": name, "policy_sha256": sha, "changed": False}
        with_json = policy_json(policy)
        payload = {
            "env": name,
            "policy_sha256": sha,
            "previous_sha256": env.policy_sha256,
            "revision": environments.next_policy_revision(conn, name),
            "policy": with_json,
        }
        who, payload = sign_act(conn, "env.policy", name, payload, key)
        actor = who or ledger.user
        revision = environments.set_policy(conn, name, sha, with_json, source, at_, actor)
        events.append(conn, "env.policy", name, actor, at_, payload)
    return {"env": name, "policy_sha256": sha, "revision": revision, "changed": True}


def _eval_set(conn: Connection, ref: str) -> str:
    """The policy's eval set, pinned in full: a unique prefix is resolved, and the snapshot must
    be an eval set (the gate scores on it)."""
    from modelledger.data.resolve import resolve_snapshot
    from modelledger.evals import store as evals

    found = resolve_snapshot(conn, ref)
    if not evals.is_eval_set(conn, found):
        raise InvalidInput(
            f"gate policy field 'eval_set': {found} is not an eval set "
            "(make one with `mledger eval set create NAME PATH`)"
        )
    return found


def get_policy(ledger: Ledger, name: str) -> dict[str, Any]:
    from modelledger.releases.gate import DEFAULT_POLICY, policy_json, policy_sha256

    with ledger.db.read() as conn:
        env = require_env(conn, name)
        revisions = environments.policy_revisions(conn, name)
        if env.policy_sha256 is None:
            policy, sha = policy_json(DEFAULT_POLICY), policy_sha256(DEFAULT_POLICY)
        else:
            policy, sha = environments.policy(conn, env.policy_sha256), env.policy_sha256
    return {
        "env": name,
        "policy_sha256": sha,
        "default": env.policy_sha256 is None,
        "policy": policy,
        "revisions": revisions,
    }
