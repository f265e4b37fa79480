"""Model and dataset names: safe in paths, URLs and ``NAME@N`` references."""

from __future__ import annotations

import re

from modelledger.core.errors import InvalidInput

# fullmatch, not match: ``$`` also matches before a trailing newline
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def validate_name(name: str, what: str = "model name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidInput(
            f"invalid {what} {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', '..', '@', spaces or control characters)"
        )
    return name
