"""Promotion through the registry server (``MLEDGER_URL``): the same acts as ``promote`` and
``decide_request``, signed here with the caller's own key and recorded by the server, which
checks the signatures, the roles and the gate again (docs/server.md). Each answer is the JSON
the local command prints with ``--json``.
"""

from __future__ import annotations

from typing import Any

from modelledger.core.errors import CheckFailed, Conflict, InvalidInput
from modelledger.ledger.home import now
from modelledger.releases.signatures import sign_decision, sign_request
from modelledger.remote.session import Remote, route


class RemoteGateFailed(CheckFailed):
    """The server's gate said no; ``gate`` is its report (as ``GateReport.to_json``)."""

    def __init__(self, message: str, gate: dict[str, Any]) -> None:
        super().__init__(message)
        self.gate = gate


def promote(
    remote: Remote,
    ref: str,
    env: str,
    reason: str | None,
    override: bool,
    expect_live: str | None,
    private_key: Any,
    expires: str,
) -> dict[str, Any]:
    """``{"promoted": True, **promotion}`` when ``env`` needs no approval, else the signed
    request opened: ``{"promoted": False, "request": …}``."""
    if expect_live is not None:
        _check_live(remote, env, expect_live)
    body = {"ref": ref, "env": env, "reason": reason, "override": override, "expires": expires}
    try:
        drafted = remote.post("/requests/draft", body)
    except CheckFailed as exc:
        raise _gate_failed(exc) from None
    except Conflict as exc:
        if getattr(exc, "answer", {}).get("next") != "/promotions":  # no approval is asked
            raise
        move = {"ref": ref, "env": env, "reason": reason, "override": override}
        try:
            done = remote.post("/promotions", {**move, "expect_live": expect_live})
        except CheckFailed as failed:
            raise _gate_failed(failed) from None
        return {"promoted": True, **done}
    if private_key is None:
        raise InvalidInput(
            "this promotion needs approval: sign the request with your key (--key or MLEDGER_KEY)"
        )
    opened = remote.post("/requests", sign_request(drafted["request"], private_key))
    return {"promoted": False, "request": opened}


def _check_live(remote: Remote, env: str, expected: str) -> None:
    shown = remote.get(route("environments", env))
    live = shown.get("id") if isinstance(shown, dict) else None
    want = None if expected.strip().lower() == "none" else expected
    if want is not None and live is not None and (live.startswith(want) or shown["label"] == want):
        return  # named by its id, a prefix of it, or NAME@N
    if want is None and live is None:
        return
    raise Conflict(f"{env} runs {live or 'nothing'}, not {expected}: nothing was changed")


def _gate_failed(exc: CheckFailed) -> CheckFailed:
    gate = getattr(exc, "answer", {}).get("gate")
    return RemoteGateFailed(str(exc), gate) if isinstance(gate, dict) else exc


def decide(
    remote: Remote, text: str, private_key: Any, decision: str, reason: str | None
) -> dict[str, Any]:
    """Approve or reject the request ``text`` names (an id or a unique prefix), as the token's
    principal, signed with ``private_key``: the answer ``decide_request(…).to_json()`` gives."""
    shown = remote.get(route("requests", text))
    principal = remote.get("/whoami")["name"]
    body = sign_decision(shown, private_key, principal, decision, reason, at=now())
    answer: dict[str, Any] = remote.post(route("requests", shown["id"], decision), body)
    return answer


def rollback(
    remote: Remote, env: str, to: str | None, reason: str, private_key: Any
) -> dict[str, Any]:
    """``mledger rollback`` through the server: it checks the target and drafts the rollback's
    statement, which is signed here after a look at what it says, then sent back to be done.
    The answer is ``rollback --json``'s; a target failing its checks is RemoteRollbackFailed."""
    from modelledger.identity import signing
    from modelledger.releases import acts

    if private_key is None:
        raise InvalidInput("a rollback is signed with your key (--key or MLEDGER_KEY)")
    body: dict[str, Any] = {"to": to, "reason": reason, "key": signing.public_key_text(private_key)}
    try:
        remote.post(route("environments", env, "rollback"), body)
    except CheckFailed as exc:
        raise RemoteRollbackFailed(str(exc), getattr(exc, "answer", {}).get("checks", [])) from None
    except Conflict as exc:  # the statement to sign, or the environment moved meanwhile
        statement = getattr(exc, "answer", {}).get("statement")
        if not isinstance(statement, dict):
            raise
    else:
        raise Conflict("the server rolled back without a signature; tell its operator")
    what = (statement.get("kind"), statement.get("env"), statement.get("reason"))
    if what != ("rollback", env, reason) or statement.get("format") != acts.FORMAT:
        raise CheckFailed(f"the server asked to sign something else than this rollback: {what}")
    if to is not None and to not in (statement.get("version"), statement.get("label")):
        raise CheckFailed(f"the server drafted a rollback to {statement.get('label')}, not {to}")
    signed = {"key": body["key"], "sig": signing.sign(private_key, statement)["sig"]}
    try:
        done: dict[str, Any] = remote.post(
            route("environments", env, "rollback"),
            {**body, "statement": statement, "signed": signed},
        )
    except CheckFailed as exc:
        raise RemoteRollbackFailed(str(exc), getattr(exc, "answer", {}).get("checks", [])) from None
    return done


class RemoteRollbackFailed(CheckFailed):
    """The server's checks refused the target; ``checks`` as ``rollback --json`` lists them."""

    def __init__(self, message: str, checks: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.checks = checks
