"""Labels on a version, outside its tuple: tags (``key=value``) and a description. What is
accepted, checked before anything is written."""

from __future__ import annotations

import re
from collections.abc import Iterable

from modelledger.core.errors import InvalidInput

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
VALUE_LIMIT = 512
DESCRIPTION_LIMIT = 10_000


def tag_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidInput(
            f"tag key {key!r}: use 1-128 letters, digits, '.', '_', ':', '/' or '-', "
            "starting with a letter or digit"
        )
    return key


def tag_value(key: str, value: str) -> str:
    if len(value) > VALUE_LIMIT:
        raise InvalidInput(f"tag {key}: a value is at most {VALUE_LIMIT} characters")
    if any(ord(c) < 32 for c in value):
        raise InvalidInput(f"tag {key}: the value holds a control character")
    return value


def parse_tags(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` arguments (the value may be empty); a key given twice is refused."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"tag {pair!r}: expected KEY=VALUE (remove one with --remove KEY)")
        key = tag_key(key.strip())
        if key in out:
            raise InvalidInput(f"tag {key!r} is given twice")
        out[key] = tag_value(key, value)
    return out


def description(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput("the description is empty (remove one with --clear)")
    if len(text) > DESCRIPTION_LIMIT:
        raise InvalidInput(f"a description is at most {DESCRIPTION_LIMIT:,} characters")
    return text
