"""What every route of the registry API answers with: canonical JSON, and who is asking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import Response

from modelledger.core.canonical import canonical_json
from modelledger.ledger.home import Ledger
from modelledger.server.caller import Caller

# (request, role, environment=None) → the caller, who holds the role, and the ledger as them
Authorize = Callable[..., tuple[Caller, Ledger]]


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(canonical_json(body), status, headers, media_type="application/json")
