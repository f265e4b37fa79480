"""The prediction server described for its callers: an OpenAPI 3.1 document and a docs page.

The document is built from plain data (the arms' declared inputs) each time it is asked for, so
after a hot swap it describes the versions that answer now. ``features`` lists the live
version's declared inputs, typed as ``features.py`` checks them; a version that declares none
takes a free object. When arms declare different inputs, a request must fit the arm it is
routed to, which the caller does not choose, so ``features`` is any one of the arms' shapes.

The docs page that renders it is ``docs_page.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modelledger.predictions.records import REQUEST_ID, SYSTEM_ID, VERSION_ID
from modelledger.serving.features import RESERVED

Inputs = Mapping[str, str] | None  # name -> declared type; None: the version declares none

_TYPES: dict[str, dict[str, Any]] = {
    "float": {"type": "number", "description": "a number (an integer is a float too)"},
    "int": {"type": "integer", "description": "an integer, written without a fraction"},
    "bool": {"type": "boolean", "description": "true or false"},
    "str": {"type": "string", "description": "a string"},
    "category": {"type": ["string", "integer"], "description": "a string or an integer code"},
    "datetime": {
        "type": "string",
        "format": "date-time",
        "description": "ISO-8601 text, e.g. 2024-05-01T12:00:00Z",
    },
}
_EXAMPLES: dict[str, Any] = {
    "float": 12.5,
    "int": 3,
    "bool": False,
    "str": "text",
    "category": "a",
    "datetime": "2024-05-01T12:00:00Z",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


def input_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one declared input type (an unknown type is checked as a string)."""
    schema = _TYPES.get(kind, _TYPES["str"])
    return {**schema, "description": f"{kind}: {schema['description']}"}


def features_schema(inputs: Inputs, sticky_key: str | None = None) -> dict[str, Any]:
    """What ``features`` must be for a version declaring ``inputs``: exactly those, each of its
    type, plus the route's sticky-key field when the version does not take it itself."""
    sticky = {
        "description": "the route's sticky key: it picks the arm, and the model does not see it "
        "unless it is one of the model's inputs"
    }
    if inputs is None:
        schema: dict[str, Any] = {
            "type": "object",
            "description": "the version declares no inputs: any object of feature values, "
            "without the names the inference log keeps for itself",
            "propertyNames": {"not": {"enum": sorted(RESERVED)}},
        }
        if sticky_key is not None:
            schema["properties"] = {sticky_key: sticky}
            schema["required"] = [sticky_key]
        return schema
    properties = {name: input_schema(kind) for name, kind in sorted(inputs.items())}
    if sticky_key is not None and sticky_key not in properties:
        properties[sticky_key] = sticky
    return {
        "type": "object",
        "description": "every declared input, present, non-null and of its type; nothing else",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
    }


def _example(inputs: Inputs, sticky_key: str | None) -> dict[str, Any]:
    example = {name: _EXAMPLES.get(kind, "text") for name, kind in sorted((inputs or {}).items())}
    if sticky_key is not None and sticky_key not in example:
        example[sticky_key] = "user-42"
    return example or {"amount": 12.5}


def _features(arms_inputs: Mapping[str, Inputs], sticky_key: str | None) -> dict[str, Any]:
    shapes: dict[str, tuple[list[str], Inputs]] = {}  # one schema per distinct set of inputs
    for arm, inputs in arms_inputs.items():
        key = json.dumps(None if inputs is None else dict(sorted(inputs.items())))
        shapes.setdefault(key, ([], inputs))[0].append(arm)
    if not shapes:
        return {
            "type": "object",
            "description": "nothing is live, so no inputs are declared yet (POST /predict "
            "answers 503 until a promotion)",
        }
    if len(shapes) == 1:
        [(_, inputs)] = shapes.values()
        return features_schema(inputs, sticky_key)
    return {
        "description": "the arms declare different inputs; a request must fit the one it is "
        "routed to",
        "anyOf": [
            {**features_schema(inputs, sticky_key), "title": f"inputs of {', '.join(arms)}"}
            for arms, inputs in shapes.values()
        ],
    }


def _error(required: list[str], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "detail": {"type": "string", "description": "what is wrong, in one line"},
            "field": {
                "type": "string",
                "description": "the offending field: body, features.amount, "
                "instances[3].features.x, request_id …",
            },
        },
        "required": required,
    }


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(
    env: str,
    arms_inputs: Mapping[str, Inputs],
    *,
    version: str,
    sticky_key: str | None = None,
    live: str | None = None,
    title: str | None = None,
    max_instances: int = 10_000,
    max_body_bytes: int | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the server for ``env``: ``arms_inputs`` maps each live arm
    (``primary``, ``canary-1`` …) to its version's declared inputs (None: none declared)."""
    first = next(iter(arms_inputs.values()), None)
    example = _example(first, sticky_key)
    serving = f"serving {live}" if live else "nothing live yet"
    limit = f" of at most {max_body_bytes} bytes" if max_body_bytes else ""
    schemas: dict[str, Any] = {
        "RequestId": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": _anchored(REQUEST_ID.pattern),
            "description": "1-128 printable ASCII characters without spaces, quotes or "
            "backslashes; one id names one request (omit it to have one minted)",
        },
        "Features": _features(arms_inputs, sticky_key),
        "PredictRequest": {
            "type": "object",
            "title": "one request",
            "properties": {"request_id": _ref("RequestId"), "features": _ref("Features")},
            "required": ["features"],
            "additionalProperties": False,
        },
        "BatchRequest": {
            "type": "object",
            "title": "a batch",
            "properties": {
                "instances": {
                    "type": "array",
                    "items": _ref("PredictRequest"),
                    "minItems": 1,
                    "maxItems": max_instances,
                    "description": "requests answered in order; one bad instance refuses the "
                    "whole batch",
                }
            },
            "required": ["instances"],
            "additionalProperties": False,
        },
        "Answer": {
            "type": "object",
            "title": "one answer",
            "properties": {
                "request_id": _ref("RequestId"),
                "prediction": {"description": "the model's output: any JSON value"},
                "confidence": {
                    "type": "number",
                    "description": "the highest class probability, when the model gives one",
                },
                "version_id": {
                    "type": "string",
                    "pattern": _anchored(VERSION_ID.pattern),
                    "description": "the model version that answered",
                },
                "system_id": {
                    "type": "string",
                    "pattern": _anchored(SYSTEM_ID.pattern),
                    "description": "the system the version answered for, when the arm serves one",
                },
                "arm": {"type": "string", "description": "primary, canary-1 …: the arm routed to"},
            },
            "required": ["request_id", "prediction", "version_id", "arm"],
        },
        "BatchAnswer": {
            "type": "object",
            "title": "a batch's answers",
            "properties": {
                "predictions": {
                    "type": "array",
                    "items": _ref("Answer"),
                    "description": "one answer per instance, in order",
                }
            },
            "required": ["predictions"],
        },
        "Error": _error(["detail"], "a refusal"),
        "BadRequest": _error(["detail", "field"], "a request refused whole, naming the field"),
        "Health": {
            "type": "object",
            "properties": {
                "status": {"enum": ["ok", "degraded", "unavailable"]},
                "env": {"type": "string"},
                "live": {"type": ["string", "null"], "description": "the live version's id"},
                "label": {"type": ["string", "null"]},
                "serving": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["status", "env"],
        },
        "Version": {
            "type": "object",
            "properties": {
                "env": {"type": "string"},
                "live": {"type": ["string", "null"]},
                "label": {"type": ["string", "null"]},
                "route_revision": {"type": ["integer", "null"]},
                "sticky_key": {"type": ["string", "null"]},
                "arms": {"type": "array", "items": {"type": "object"}},
                "shadows": {"type": "array", "items": {"type": "object"}},
                "loaded_at": {"type": "string"},
            },
            "required": ["env", "arms"],
        },
    }
    predict = {
        "summary": "Score one request or a batch",
        "description": "A request is checked whole before anything is scored or logged. The "
        "answer leaves once its request ids are claimed and its log records are durable. "
        "NaN, Infinity and numbers beyond a double (1e400) are refused: JSON cannot carry "
        "them back.",
        "operationId": "predict",
        "requestBody": {
            "required": True,
            "description": f"a JSON object (UTF-8){limit}",
            "content": {
                "application/json": {
                    "schema": {"oneOf": [_ref("PredictRequest"), _ref("BatchRequest")]},
                    "examples": {
                        "single": {
                            "summary": "one request",
                            "value": {"request_id": "req-0001", "features": example},
                        },
                        "batch": {
                            "summary": "a batch",
                            "value": {"instances": [{"features": example}, {"features": example}]},
                        },
                    },
                }
            },
        },
        "responses": {
            "200": _json_response(
                "the answer (a batch: the answers in order)",
                {"oneOf": [_ref("Answer"), _ref("BatchAnswer")]},
            ),
            "409": _json_response(
                "a request id names a request answered before", _ref("BadRequest")
            ),
            "413": _json_response("the body is larger than the server accepts", _ref("Error")),
            "422": _json_response(
                "the body is not JSON, nests too deeply, or does not fit the declared inputs",
                _ref("BadRequest"),
            ),
            "500": _json_response("the model failed, or answered with no JSON form", _ref("Error")),
            "503": _json_response(
                "nothing is live, or the answer cannot be made durable", _ref("Error")
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title or f"modelledger serving {env}",
            "version": version,
            "description": f"Predictions for environment {env}: {serving}.",
        },
        "paths": {
            "/predict": {"post": predict},
            "/health": {
                "get": {
                    "summary": "What is served, the last hot swap, the journal",
                    "operationId": "health",
                    "responses": {
                        "200": _json_response("something is served", _ref("Health")),
                        "503": _json_response("nothing is live", _ref("Health")),
                    },
                }
            },
            "/version": {
                "get": {
                    "summary": "The live version, the route in force and each arm",
                    "operationId": "version",
                    "responses": {"200": _json_response("the runtime", _ref("Version"))},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "the Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {"schemas": schemas},
    }
