"""Request bodies shared by the registry API's routes: strict (unknown keys refused)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Signature(Body):
    key: str = Field(max_length=200, description="ed25519:<hex>, the signer's public key")
    sig: str = Field(max_length=200, description="hex Ed25519 signature")


class CardBody(Body):
    card: dict[str, Any]
