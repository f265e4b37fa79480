"""How a model version says it is loaded: ``joblib``, ``pickle`` or ``python:package.module:factory``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from modelledger.core.errors import InvalidInput

# matched with ``fullmatch``, so a trailing newline (which ``$`` tolerates) is not accepted
LOADER_PATTERN = re.compile(r"(joblib|pickle|python:[A-Za-z_][\w.]*:[A-Za-z_]\w*)")

LoaderKind = Literal["joblib", "pickle", "python"]


@dataclass(frozen=True)
class Loader:
    kind: LoaderKind
    module: str | None = None
    factory: str | None = None

    def __str__(self) -> str:
        if self.kind == "python":
            return f"python:{self.module}:{self.factory}"
        return self.kind


def parse_loader(text: str) -> Loader:
    """Parse ``joblib``, ``pickle`` or ``python:package.module:factory``; InvalidInput otherwise."""
    if not isinstance(text, str) or not LOADER_PATTERN.fullmatch(text):
        raise InvalidInput(
            f"--loader {text!r}: expected joblib, pickle or python:package.module:factory"
        )
    if text == "joblib":
        return Loader(kind="joblib")
    if text == "pickle":
        return Loader(kind="pickle")
    _, module, factory = text.split(":")
    if not all(part.isidentifier() for part in module.split(".")):
        raise InvalidInput(
            f"--loader {text!r}: {module!r} is not a dotted module name (empty part or stray dot)"
        )
    return Loader(kind="python", module=module, factory=factory)
