"""Transformation lineage: which input snapshots, code and params produced an output snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.core import ids
from modelledger.core.canonical import canonical_value
from modelledger.core.errors import InvalidInput

TRANSFORM = "tf"


@dataclass(frozen=True)
class Transform:
    id: str
    output: str
    inputs: tuple[str, ...]
    step: str
    code: dict[str, Any] | None
    params: dict[str, Any]

    @classmethod
    def of(
        cls,
        output: str,
        inputs: list[str],
        step: str,
        code: dict[str, Any] | None,
        params: dict[str, Any],
    ) -> Transform:
        if not step.strip():
            raise InvalidInput("--step: describe the transformation, e.g. 'dedupe+pii-redact'")
        if not inputs:
            raise InvalidInput("a transformation needs at least one --from snapshot")
        if output in inputs:
            raise InvalidInput(f"{output} cannot be derived from itself")
        record = {
            "inputs": sorted(set(inputs)),
            "output": output,
            "step": step.strip(),
            "code": canonical_value(code) if code is not None else None,
            "params": canonical_value(params),
        }
        return cls(
            id=ids.make_id(TRANSFORM, record),
            output=output,
            inputs=tuple(record["inputs"]),
            step=record["step"],
            code=record["code"],
            params=record["params"],
        )

    def record(self) -> dict[str, Any]:
        """The canonical record the id is the hash of."""
        return {
            "inputs": list(self.inputs),
            "output": self.output,
            "step": self.step,
            "code": self.code,
            "params": self.params,
        }

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.record()}
