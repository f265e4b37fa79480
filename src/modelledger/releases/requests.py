"""Promotion requests and the signed approvals that decide them. Pure: no database, no clock.

A request pins what is to be decided: the candidate, the environment, what is live, the policy
(by hash) and the gate's evidence report. Its id is the hash of all of that, and an approval
signs a statement naming the id and those fields again, so an approval of one request never
counts for another: not for another candidate, another environment, a changed policy or report.

Who counts is judged against the directory at the time of judging: an active key of an enabled
principal holding the approver role for the environment (and in the policy's ``from`` list),
who is neither the requester nor the registrant. Each principal counts once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelledger.core.canonical import digest
from modelledger.identity import signing
from modelledger.identity.directory import Directory

REQUEST_FORMAT = "mledger-promotion-request/1"
APPROVAL_FORMAT = "mledger-promotion-approval/1"
DECISIONS = ("approve", "reject")


@dataclass(frozen=True)
class Request:
    env: str
    version: str
    label: str
    previous: str | None
    action: str  # promote | override
    reason: str | None
    policy_sha256: str
    gate: dict[str, Any]  # the evidence report (GateReport.to_json)
    requester: str
    registrant: str
    requested_at: str
    expires_at: str
    ledger: str | None

    def body(self) -> dict[str, Any]:
        return {
            "format": REQUEST_FORMAT,
            "env": self.env,
            "version": self.version,
            "label": self.label,
            "previous": self.previous,
            "action": self.action,
            "reason": self.reason,
            "policy_sha256": self.policy_sha256,
            "gate_sha256": digest(self.gate),
            "requester": self.requester,
            "registrant": self.registrant,
            "requested_at": self.requested_at,
            "expires_at": self.expires_at,
            "ledger": self.ledger,
        }

    @property
    def id(self) -> str:
        return "pr-" + digest(self.body())

    def payload(self) -> dict[str, Any]:
        """What the ``promotion.request`` event records."""
        return {**self.body(), "id": self.id, "gate": self.gate}

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> Request:
        return cls(
            env=p["env"],
            version=p["version"],
            label=p["label"],
            previous=p["previous"],
            action=p["action"],
            reason=p["reason"],
            policy_sha256=p["policy_sha256"],
            gate=p["gate"],
            requester=p["requester"],
            registrant=p["registrant"],
            requested_at=p["requested_at"],
            expires_at=p["expires_at"],
            ledger=p["ledger"],
        )


@dataclass(frozen=True)
class Approval:
    request: str
    decision: str  # approve | reject
    reason: str | None
    principal: str
    at: str
    signed: dict[str, str] = field(default_factory=dict)  # {"key", "sig"}

    def statement(self, req: Request) -> dict[str, Any]:
        """What the approver signs: the request by id and by what it decides."""
        return {
            "format": APPROVAL_FORMAT,
            "request": self.request,
            "ledger": req.ledger,
            "env": req.env,
            "version": req.version,
            "previous": req.previous,
            "policy_sha256": req.policy_sha256,
            "gate_sha256": digest(req.gate),
            "decision": self.decision,
            "reason": self.reason,
            "principal": self.principal,
            "at": self.at,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "decision": self.decision,
            "reason": self.reason,
            "principal": self.principal,
            "at": self.at,
            "signed": dict(self.signed),
        }

    @classmethod
    def from_json(cls, p: dict[str, Any]) -> Approval:
        return cls(
            p["request"], p["decision"], p.get("reason"), p["principal"], p["at"], p["signed"]
        )


def sign_approval(private_key: Any, req: Request, approval: Approval) -> Approval:
    signed = signing.sign(private_key, approval.statement(req))
    return Approval(
        approval.request,
        approval.decision,
        approval.reason,
        approval.principal,
        approval.at,
        signed,
    )


def why_not(
    approval: Approval, req: Request, d: Directory, from_: Sequence[str] = ()
) -> str | None:
    """Why ``approval`` does not count for ``req`` (None: it does)."""
    if approval.request != req.id:
        return f"it was made for another request ({approval.request})"
    if approval.decision not in DECISIONS:
        return f"unknown decision {approval.decision!r}"
    key, sig = approval.signed.get("key", ""), approval.signed.get("sig", "")
    if not signing.signature_ok(key, approval.statement(req), sig):
        return "its signature does not verify for this request"
    who = d.signer(key)
    if who is None:
        return f"key {_fp(key)} is no active key of an enabled principal"
    if who.name != approval.principal:
        return f"signed with {who.name}'s key, not {approval.principal}'s"
    if not who.can("approver", req.env):
        return f"{who.name} has no approver role for {req.env}"
    if who.name.casefold() == req.requester.casefold():
        return f"{who.name} requested this promotion: four eyes needs someone else"
    if who.name.casefold() == req.registrant.casefold():
        return f"{who.name} registered {req.label}: four eyes needs someone else"
    if from_ and not _listed(who.name, who.groups, from_):
        return f"{who.name} is not among {', '.join(from_)}"
    return None


def _listed(name: str, groups: Iterable[str], from_: Sequence[str]) -> bool:
    mine = {f"user:{name}", *(f"group:{g}" for g in groups)}
    return bool(mine & set(from_))


def _fp(key: str) -> str:
    try:
        return signing.fingerprint(key)
    except ValueError:
        return repr(key[:24])


@dataclass(frozen=True)
class Tally:
    approved_by: tuple[str, ...]
    rejected_by: Approval | None
    refused: tuple[tuple[Approval, str], ...]


def tally(
    req: Request, approvals: Iterable[Approval], d: Directory, from_: Sequence[str] = ()
) -> Tally:
    """The approvals that count, in order, each principal once; the first counted rejection."""
    approved: list[str] = []
    rejected: Approval | None = None
    refused: list[tuple[Approval, str]] = []
    for a in approvals:
        why = why_not(a, req, d, from_)
        if why is not None:
            refused.append((a, why))
        elif a.decision == "reject":
            rejected = rejected or a
        elif a.principal not in approved:
            approved.append(a.principal)
    return Tally(tuple(approved), rejected, tuple(refused))
