"""Model cards (SCENARIOS.md "Cards"): validated, stored as revisions beside an immutable version."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelledger.core.errors import InvalidInput
from modelledger.models.contract import FeatureType

_M = TypeVar("_M", bound=BaseModel)


class _Strict(BaseModel):
    # Unknown keys are typos more often than intent; reject them so the card says what it means.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseModelInfo(_Strict):
    name: str
    version: str | None = None
    hash: str | None = None


class Method(_Strict):
    type: str = Field(description="e.g. lora, full-finetune, gbdt")
    r: int | None = Field(default=None, ge=1)
    alpha: float | None = None
    objective: str | None = None


class EvalEntry(_Strict):
    eval_set: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    slices: dict[str, dict[str, float]] = Field(default_factory=dict)


class ModelCard(_Strict):
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


def parse_card(schema: type[_M], data: Any, what: str) -> _M:
    """``data`` validated against a card schema, or InvalidInput naming the first bad field."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{what}: expected a mapping of fields")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "card"
        if err["type"] == "extra_forbidden":
            raise InvalidInput(
                f"{what}: unknown key {where!r}{_suggest(schema, err['loc'])}"
            ) from None
        raise InvalidInput(f"{what} field {where!r}: {err['msg']}") from None


def _suggest(schema: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """A "did you mean" for a misspelt key, following nested models (``psi.alrt``)."""
    import difflib

    model: Any = schema
    for part in loc[:-1]:  # down through fields that are themselves models
        field = model.model_fields.get(part) if isinstance(part, str) else None
        inner = getattr(field, "annotation", None) if field else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return ""
        model = inner
    names = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(names)})"


def validate_card(data: Any) -> dict[str, Any]:
    """The card as canonical data, or InvalidInput naming the first offending field."""
    return parse_card(ModelCard, data, "card").model_dump(mode="json", exclude_none=True)


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
