"""Exceptions raised across modelledger. Their public home, with the whole hierarchy drawn,
is ``modelledger.errors``."""

from __future__ import annotations


class MledgerError(Exception):
    exit_code = 2


class InvalidInput(MledgerError):
    pass


class NotFound(MledgerError):
    pass


class AmbiguousReference(MledgerError):
    def __init__(self, ref: str, candidates: list[str]) -> None:
        self.candidates = candidates
        listed = ", ".join(candidates[:10]) + (" …" if len(candidates) > 10 else "")
        super().__init__(f"reference {ref!r} is ambiguous; candidates: {listed}")


class NoLedger(MledgerError):
    pass


class DirtyWorkingTree(MledgerError):
    pass


class ImmutableRecord(MledgerError):
    pass


class Conflict(MledgerError):
    pass


class StoreUnavailable(MledgerError):
    pass


class CheckFailed(MledgerError):
    exit_code = 1


class NotAllowed(MledgerError):
    """Who is asking may not do this (their role, or who they are: a requester approving)."""

    exit_code = 3


# Shown (in tracebacks, reprs, pickles) under their public home, which re-exports them.
for _cls in (
    MledgerError,
    InvalidInput,
    NotFound,
    AmbiguousReference,
    NoLedger,
    DirtyWorkingTree,
    ImmutableRecord,
    Conflict,
    StoreUnavailable,
    CheckFailed,
    NotAllowed,
):
    _cls.__module__ = "modelledger.errors"
del _cls
