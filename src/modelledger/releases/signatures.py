"""What a client of ``mledger server`` signs, with its own key, on its own machine. Pure.

The server never holds a person's private key. A promotion request is drafted by the server
(``POST /requests/draft``), checked and signed here, and sent back (``POST /requests``); an
approval or rejection is made here from the request as ``GET /requests/{id}`` shows it. Both are
checked against their contents first: the request's id is the hash of what it decides, so a
server cannot have one thing signed while showing another.

    body = sign_request(draft["request"], key)                       # POST /requests
    body = sign_decision(shown, key, "bob", "approve", None, at=now)  # POST /requests/{id}/approve
"""

from __future__ import annotations

from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.identity import signing
from modelledger.releases.requests import Approval, Request, sign_approval


def request_of(shown: dict[str, Any]) -> Request:
    """The request a server's JSON describes, refused when its contents do not hash to its id."""
    try:
        req = Request.from_payload(shown)
    except (KeyError, TypeError) as exc:
        raise InvalidInput(f"not a promotion request: {exc}") from None
    if shown.get("id") != req.id:
        raise InvalidInput("the request's contents do not hash to its id: not signing it")
    return req


def sign_request(draft: dict[str, Any], private_key: Any) -> dict[str, Any]:
    """The body of ``POST /requests``: the drafted request and the requester's signature."""
    req = request_of(draft)
    return {"request": draft, "signed": signing.sign(private_key, req.body())}


def sign_decision(
    shown: dict[str, Any],
    private_key: Any,
    principal: str,
    decision: str,
    reason: str | None,
    *,
    at: str,
) -> dict[str, Any]:
    """The body of ``POST /requests/{id}/approve`` (or ``/reject``) signed by ``principal``
    at ``at`` (a ledger timestamp, the client's clock)."""
    req = request_of(shown)
    signed = sign_approval(private_key, req, Approval(req.id, decision, reason, principal, at))
    return {"at": at, "reason": reason, "signed": signed.signed}
