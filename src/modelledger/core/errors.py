"""Exceptions raised across modelledger.

MledgerError                 exit 2 unless said otherwise: bad usage or input
├── InvalidInput             a value the user gave is malformed (names the field)
├── NotFound                 a reference resolves to nothing
├── AmbiguousReference       a prefix matches several ids (lists them)
├── NoLedger                 no .mledger/ found and no MLEDGER_DB_URL set
├── DirtyWorkingTree         uncommitted changes and no --allow-dirty
├── ImmutableRecord          something tried to change a record that is append-only
├── Conflict                 a write lost to a concurrent one or broke a constraint
├── StoreUnavailable         the database or blob store cannot be reached
└── CheckFailed              exit 1: a check ran and its answer is "no" (verify, gate)
"""

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
