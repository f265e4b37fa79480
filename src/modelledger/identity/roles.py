"""Roles and what they allow. Pure: no database, no clock.

``reader`` reads; ``writer`` registers, snapshots and records evaluations; ``approver`` approves
promotions, in every environment or in the one it names (``approver:prod``); ``admin`` does all
of it and changes who may do what. A grant names a role and, for an approver, optionally an
environment.

An API token carries scopes (``read``, ``write``, ``approve``, ``admin``), each standing for the
role of that name and implying what the role implies. A token acts with the roles its scopes
name *and* its principal holds: it never grants more than its principal's roles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from modelledger.core.errors import InvalidInput

ROLES = ("reader", "writer", "approver", "admin")
# what each role also grants
_IMPLIES = {
    "reader": {"reader"},
    "writer": {"reader", "writer"},
    "approver": {"reader", "approver"},
    "admin": set(ROLES),
}
SCOPES = ("read", "write", "approve", "admin")
_SCOPE_ROLE = {"read": "reader", "write": "writer", "approve": "approver", "admin": "admin"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


@dataclass(frozen=True, order=True)
class Grant:
    role: str
    env: str | None = None  # None: every environment

    def __str__(self) -> str:
        return self.role if self.env is None else f"{self.role}:{self.env}"


def parse_grant(text: str) -> Grant:
    role, colon, env = text.strip().partition(":")
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if colon and not env:
        raise InvalidInput(f"{text!r}: name the environment after the colon, or leave it out")
    if env and role != "approver":
        raise InvalidInput(f"only the approver role is granted per environment, not {role!r}")
    return Grant(role, env or None)


def check_name(text: str, what: str = "name") -> str:
    if not _NAME.match(text):
        raise InvalidInput(
            f"{what} {text!r}: letters, digits and . _ @ + - only, starting with a letter or "
            "digit, at most 128 characters"
        )
    return text


def allows(grants: Iterable[Grant], role: str, env: str | None = None) -> bool:
    """Whether ``grants`` give ``role`` (for ``env`` when the role is per environment)."""
    for g in grants:
        if role not in _IMPLIES[g.role]:
            continue
        if g.role == "approver" and role == "approver" and g.env not in (None, env):
            continue  # an approver for another environment
        return True
    return False


def parse_scopes(texts: Iterable[str]) -> tuple[str, ...]:
    """Scopes, checked and sorted; InvalidInput naming an unknown one."""
    found = set()
    for text in texts:
        for scope in text.replace(",", " ").split():
            if scope not in SCOPES:
                raise InvalidInput(f"unknown scope {scope!r}: one of {', '.join(SCOPES)}")
            found.add(scope)
    if not found:
        raise InvalidInput(f"a token needs at least one scope: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in found)


def scope_role(scope: str) -> str:
    """The role a scope stands for."""
    return _SCOPE_ROLE[scope]


def scopes_allow(scopes: Iterable[str], role: str) -> bool:
    """Whether a token with ``scopes`` may act in ``role`` (its principal's grants permitting)."""
    return any(role in _IMPLIES[_SCOPE_ROLE[s]] for s in scopes if s in _SCOPE_ROLE)
