"""``audit verify``'s check of who approved: identity changes, policies, requests, promotions
and rollbacks.

Replayed in the order of the log, with the directory as it stood at each event: every identity
change must be signed by an admin of the time; every promotion after identities were set up
must name a recorded request signed by its requester and carry enough approvals that verify
for that request, each by a different approver who is neither the requester nor the registrant.
Policy changes must be signed by an admin of the time, rollbacks by an approver for the
environment. Acts from before identities existed were approved by typed names: history, not
damage.
"""

from __future__ import annotations

from typing import Any

from modelledger.identity import signing
from modelledger.identity.directory import KINDS as IDENTITY_KINDS
from modelledger.identity.directory import Directory, IdentityEvent
from modelledger.ledger.chain_walk import Watched
from modelledger.releases import acts
from modelledger.releases.gate import DEFAULT_POLICY, GatePolicy, parse_policy, policy_sha256
from modelledger.releases.requests import Approval, Request, tally

_PROMOTIONS = ("promotion", "promotion.override")
Found = list[tuple[str, str, str]]


class ApprovalsCheck:
    kinds = frozenset({*IDENTITY_KINDS, *acts.ROLES, "promotion.request", *_PROMOTIONS})

    def __call__(self, events: list[Watched], ledger: str | None) -> Found:
        d = Directory(ledger=ledger)
        policies: dict[str, GatePolicy] = {policy_sha256(DEFAULT_POLICY): DEFAULT_POLICY}
        requests: dict[str, Request] = {}
        out: Found = []
        for seq, kind, subject, _actor, _at, payload, hash_ in events:
            where = f"event {seq}"
            if kind in IDENTITY_KINDS:
                known = len(d.problems)
                d.apply(IdentityEvent(seq, kind, payload, hash_))
                out.extend(("identity", where, why) for _, why in d.problems[known:])
            elif kind in acts.ROLES and (why := acts.problem(d, kind, subject, payload)):
                out.append(("approval", where, why))
            if kind == "env.policy":
                try:
                    policies[payload["policy_sha256"]] = parse_policy(payload["policy"])
                except Exception:  # a policy that does not parse is another check's damage
                    continue
            if kind == "promotion.request":
                out.extend(_request(d, subject, payload, where, requests))
            elif kind in _PROMOTIONS:
                out.extend(_promotion(d, payload, where, requests, policies))
        return out


def _request(
    d: Directory, subject: str, p: dict[str, Any], where: str, requests: dict[str, Request]
) -> Found:
    try:
        req = Request.from_payload(p)
    except (KeyError, TypeError):
        return [("approval", where, "a promotion request that is not one")]
    if req.id != subject or p.get("id") != subject:
        return [("approval", where, f"request {subject[:15]}'s contents do not hash to its id")]
    signed = p.get("signed") or {}
    if not signing.signature_ok(str(signed.get("key")), req.body(), str(signed.get("sig"))):
        return [("approval", where, f"request {subject[:15]} is not signed by its requester")]
    who = d.signer(str(signed.get("key")))
    if who is None or who.name != req.requester or not who.can("writer"):
        return [("approval", where, f"request {subject[:15]}: {req.requester} had no writer key")]
    requests[subject] = req
    return []


def _promotion(
    d: Directory,
    p: dict[str, Any],
    where: str,
    requests: dict[str, Request],
    policies: dict[str, GatePolicy],
) -> Found:
    request_id = p.get("request")
    policy = policies.get(str(p.get("policy_sha256")))
    needed = policy.approvals_needed if policy is not None else 1
    if request_id is None:
        if d.empty or needed == 0:  # typed names before identities (history), or none needed
            return []
        return [
            ("approval", where, f"no signed request, where the policy needs {needed} approvals")
        ]
    req = requests.get(str(request_id))
    if req is None:
        return [
            ("approval", where, f"names request {str(request_id)[:15]}, which was not recorded")
        ]
    if (req.version, req.env, req.previous) != (p.get("version"), p.get("env"), p.get("previous")):
        return [("approval", where, f"moves otherwise than request {req.id[:15]} asked")]
    if policy is None:
        return [("approval", where, "its gate policy is not in the log")]
    try:
        approvals = [Approval.from_json(a) for a in p.get("approvals") or []]
    except (KeyError, TypeError):
        return [("approval", where, "its approvals are not approvals")]
    t = tally(req, approvals, d, policy.approvers_from)
    found: Found = [("approval", where, f"{a.principal}'s approval: {why}") for a, why in t.refused]
    if t.rejected_by is not None:
        found.append(("approval", where, f"carries a rejection by {t.rejected_by.principal}"))
    if len(t.approved_by) < policy.approvals_needed:
        found.append(
            ("approval", where, f"{len(t.approved_by)} approvals verify, the policy needs {needed}")
        )
    if list(t.approved_by) != list(p.get("approvers") or []):
        found.append(("approval", where, "its approvers are not the ones whose approvals verify"))
    return found
