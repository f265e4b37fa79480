"""Reading the small YAML/JSON files users hand us (params, cards, policies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelledger.core.errors import InvalidInput


def load_mapping(path: Path, option: str) -> dict[str, Any]:
    """A JSON or YAML mapping, or InvalidInput saying what is wrong with the file."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{option} {path}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{option} {path}: cannot read it as text ({exc})") from None
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"{option} {path}: not valid JSON or YAML{where}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{option} {path}: expected a mapping of keys to values")
    return data
