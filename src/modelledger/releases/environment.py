"""Environments: named pointers to one pinned id, and the history of every move of the pointer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from modelledger.core.errors import InvalidInput, NotFound

Action = Literal["promote", "override", "rollback"]
# A letter first, so ``fraud@production`` (an environment) never reads like ``fraud@7`` (a number).
_ENV = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")


def validate_env_name(name: str) -> str:
    if not _ENV.fullmatch(name) or ".." in name:  # fullmatch: no trailing newline
        raise InvalidInput(
            f"invalid environment name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    if name == "latest":
        raise InvalidInput("'latest' cannot name an environment: NAME@latest is the newest version")
    return name


@dataclass(frozen=True)
class Environment:
    name: str
    current_id: str | None
    since: str | None
    policy_sha256: str | None
    created_at: str


@dataclass(frozen=True)
class PlannedMove:
    """A move of an environment's pointer as promotion or rollback decides it, before the history
    gives it its number."""

    env: str
    subject_id: str
    previous_id: str | None
    action: Action
    at: str
    requester: str
    approvers: tuple[str, ...]
    reason: str | None
    policy_sha256: str | None  # the gate policy that judged it (None: a rollback)
    event_seq: int  # the event that records it

    def numbered(self, seq: int) -> Move:
        return Move(seq=seq, **{f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True)
class Move(PlannedMove):
    """One move of an environment's pointer (its history row): a planned move, numbered."""

    seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "seq": self.seq,
            "id": self.subject_id,
            "previous": self.previous_id,
            "action": self.action,
            "at": self.at,
            "requester": self.requester,
            "approvers": list(self.approvers),
            "reason": self.reason,
            "policy_sha256": self.policy_sha256,
            "event_seq": self.event_seq,
        }


def default_rollback_target(history: Sequence[Move], current_id: str) -> str | None:
    """What was live before the current version, skipping any version that was rolled back from.

    After ``v1 → v2 → v3 → rollback to v2`` a second rollback goes to v1, not back to the v3 that
    was just abandoned.
    """
    abandoned = {m.previous_id for m in history if m.action == "rollback" and m.previous_id}
    for move in reversed(history):
        if move.subject_id != current_id and move.subject_id not in abandoned:
            return move.subject_id
    return None


def check_rollback_target(env: str, history: Sequence[Move], current_id: str, target: str) -> str:
    """A named target must have been live in this environment before, and not be live now."""
    if target == current_id:
        raise InvalidInput(f"{target} is already live in {env}")
    if not any(m.subject_id == target for m in history):
        raise InvalidInput(
            f"{target} was never live in {env}: rollback only returns to a version that was"
        )
    return target


def require_target(env: str, history: Sequence[Move], target: str | None, current_id: str) -> str:
    if target is None:
        abandoned = sorted(
            {m.previous_id for m in history if m.action == "rollback" and m.previous_id}
            - {current_id}
        )
        skipped = (
            f" ({', '.join(abandoned)} was rolled back from, so it is skipped; name it with --to)"
            if abandoned
            else ""
        )
        raise NotFound(
            f"no version to roll back to: nothing else was live in {env} before {current_id}{skipped}"
        )
    return target
