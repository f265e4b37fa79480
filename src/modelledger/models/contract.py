"""The serving contract: the input features (name → type) a model version expects.

Declared in the model card (``inputs:``). A version can replace another in an environment when
every input it needs arrives from today's callers with a type it accepts.
"""

from __future__ import annotations

from typing import Literal

FeatureType = Literal["float", "int", "bool", "str", "category", "datetime"]
FEATURE_TYPES: tuple[str, ...] = ("float", "int", "bool", "str", "category", "datetime")
# what a feature declared as the key accepts from callers sending the values' types
_ACCEPTS = {"float": {"float", "int"}, "str": {"str", "category"}, "category": {"category", "str"}}


def contract_issues(serving: dict[str, str], target: dict[str, str]) -> list[str]:
    """Why ``target`` cannot take the requests callers send for ``serving`` (empty: it can)."""
    issues = []
    for name, wanted in sorted(target.items()):
        sent = serving.get(name)
        if sent is None:
            issues.append(f"needs input {name!r} ({wanted}), which callers do not send")
        elif sent not in _ACCEPTS.get(wanted, {wanted}):
            issues.append(f"input {name!r}: expects {wanted}, callers send {sent}")
    return issues
