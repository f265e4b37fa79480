"""Who is asking: a token's principal, and what the token lets them do. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.core.errors import NotAllowed
from modelledger.identity.directory import Principal, Token

WHAT = {
    "reader": "read the registry",
    "writer": "register versions and request promotions",
    "approver": "approve or reject promotions",
    "admin": "change gate policies",
}


@dataclass(frozen=True)
class Caller:
    principal: Principal
    token: Token

    @property
    def name(self) -> str:
        return self.principal.name

    def may(self, role: str, env: str | None = None) -> bool:
        """The token's scopes *and* the principal's grants allow ``role`` (in ``env``)."""
        return self.token.allows(role) and self.principal.can(role, env)

    def require(self, role: str, env: str | None = None) -> None:
        """NotAllowed (403) saying which of the two is missing."""
        if self.may(role, env):
            return
        where = f" in {env}" if env else ""
        if not self.principal.can(role, env):
            raise NotAllowed(f"{self.name} holds no {role} role{where}: may not {WHAT[role]}")
        raise NotAllowed(
            f"this token's scopes ({', '.join(self.token.scopes)}) do not let it {WHAT[role]}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.principal.to_json(),
            "token": self.token.id,
            "scopes": list(self.token.scopes),
            "expires_at": self.token.expires_at,
        }
