"""Model cards (SCENARIOS.md "Cards"): validated, stored as revisions beside an immutable version."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from modelledger.core.documents import Strict, parse_document
from modelledger.models.contract import FeatureType


class BaseModelInfo(Strict):
    name: str
    version: str | None = None
    hash: str | None = None


class Method(Strict):
    type: str = Field(description="e.g. lora, full-finetune, gbdt")
    r: int | None = Field(default=None, ge=1)
    alpha: float | None = None
    objective: str | None = None


class EvalEntry(Strict):
    eval_set: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    slices: dict[str, dict[str, float]] = Field(default_factory=dict)


class ModelCard(Strict):
    base_model: BaseModelInfo | None = None
    method: Method | None = None
    trained_on: str | None = Field(default=None, description="dataset card / snapshot id")
    run_manifest: str | None = None
    eval: list[EvalEntry] = Field(default_factory=list)
    intended_use: str | None = None
    out_of_scope: list[str] = Field(default_factory=list)
    known_limitations: list[str] = Field(default_factory=list)
    rollback_target: str | None = None
    # the serving contract: input feature name → type (see models/contract.py)
    inputs: dict[str, FeatureType] | None = None
    # the training data's label column: left out of the input profile, it gives the reference
    # distribution of outputs for drift checks
    label: str | None = None


def validate_card(data: Any) -> dict[str, Any]:
    """The card as canonical data, or InvalidInput naming the first offending field."""
    return parse_document(ModelCard, data, "card").model_dump(mode="json", exclude_none=True)


def card_markdown(title: str, card: dict[str, Any]) -> str:
    lines = [f"# Model card: {title}", ""]
    for key, value in card.items():
        heading = key.replace("_", " ").capitalize()
        lines.append(f"## {heading}")
        if isinstance(value, list):
            lines.extend(f"- {item}" for item in value)
        elif isinstance(value, dict):
            lines.extend(f"- **{k}**: {v}" for k, v in value.items())
        else:
            lines.append(str(value))
        lines.append("")
    return "\n".join(lines)
