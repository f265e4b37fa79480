"""Human references to records: a full id, a unique id prefix, ``NAME@N`` or ``NAME@ENV``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelledger.core.errors import AmbiguousReference, InvalidInput, NotFound

MIN_PREFIX_HEX = 4
# version numbers are stored as SQL INTEGER: 32 bits on PostgreSQL
MAX_NUMBER = 2**31 - 1
_PREFIXED = re.compile(r"^(mv|ds|tf|ev|sys)-([0-9a-f]{1,64})$")
_BARE_HEX = re.compile(r"^[0-9a-f]{6,64}$")
_NAME_NUMBER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)@([0-9]+)$")
_NAME_ENV = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)@([A-Za-z][A-Za-z0-9._-]*)$")


@dataclass(frozen=True)
class IdPrefix:
    """A full id or a prefix of one; ``kind`` is None for bare hex (matched against any kind)."""

    kind: str | None
    hex: str

    @property
    def complete(self) -> bool:
        return self.kind is not None and len(self.hex) == 64


@dataclass(frozen=True)
class NameNumber:
    name: str
    number: int


@dataclass(frozen=True)
class NameEnv:
    """``fraud@production``: whatever version of ``fraud`` the environment runs at this moment."""

    name: str
    env: str


Ref = IdPrefix | NameNumber | NameEnv


def parse_ref(text: str) -> Ref:
    text = text.strip()
    if m := _PREFIXED.match(text):
        if len(m.group(2)) < MIN_PREFIX_HEX:
            raise InvalidInput(f"reference {text!r}: give at least {MIN_PREFIX_HEX} hex digits")
        return IdPrefix(m.group(1), m.group(2))
    if _BARE_HEX.match(text):
        return IdPrefix(None, text)
    if m := _NAME_NUMBER.match(text):
        digits = m.group(2).lstrip("0") or "0"
        if len(digits) > len(str(MAX_NUMBER)) or int(digits) > MAX_NUMBER:
            raise InvalidInput(
                f"reference {_cut(text)!r}: version number out of range (at most {MAX_NUMBER:,})"
            )
        return NameNumber(m.group(1), int(digits))
    if m := _NAME_ENV.match(text):
        return NameEnv(m.group(1), m.group(2))
    raise InvalidInput(
        f"cannot read reference {text!r}: expected an id (mv-…), a unique prefix of one, "
        "NAME@N or NAME@ENV"
    )


def _cut(text: str, keep: int = 60) -> str:
    """A reference as an error message shows it: a long one cut in the middle."""
    return text if len(text) <= keep else f"{text[: keep // 2]}…{text[-keep // 2 :]}"


def one_match(found: list[str], ref: str, what: str) -> str:
    """The single id a reference matched, or the error a person needs to disambiguate it."""
    if not found:
        raise NotFound(f"no {what} matches {ref!r}")
    if len(found) > 1:
        raise AmbiguousReference(ref, found)
    return found[0]
