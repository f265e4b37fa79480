"""The small YAML/JSON documents people write — model and dataset cards, gate and drift policies —
validated strictly: an unknown key is refused with a "did you mean", and the first bad field is
named in one line."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from modelledger.core.errors import InvalidInput

_M = TypeVar("_M", bound=BaseModel)


class Strict(BaseModel):
    """The base of every document schema."""

    # Unknown keys are typos more often than intent; reject them so the document says what it means.
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_document(schema: type[_M], data: Any, what: str) -> _M:
    """``data`` validated against a document schema (a card, a policy), or InvalidInput naming the first bad field."""
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
        message = _SAID.get(err["type"], err["msg"])
        raise InvalidInput(f"{what} field {where!r}: {message}") from None


# pydantic's words where they name its internals ("a valid dictionary or instance of
# ProtectedSlices"): said as the document's author sees it
_SAID = {
    "model_type": "expected a mapping of fields (key: value)",
    "model_attributes_type": "expected a mapping of fields (key: value)",
    "dict_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
}


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
