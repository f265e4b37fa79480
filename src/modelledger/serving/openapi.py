"""The prediction server described for its callers: an OpenAPI 3.1 document and a docs page.

The document is built from plain data (the arms' declared inputs) each time it is asked for, so
after a hot swap it describes the versions that answer now. ``features`` lists the live
version's declared inputs, typed as ``features.py`` checks them; a version that declares none
takes a free object. When arms declare different inputs, a request must fit the arm it is
routed to, which the caller does not choose, so ``features`` is any one of the arms' shapes.

The docs page is one self-contained HTML file: its script and style are inline and pinned by
hash in its Content-Security-Policy, which also lets it fetch nothing but the server's own URLs.
It works offline and loads nothing from the network when opened.
"""

from __future__ import annotations

import base64
import hashlib
import html
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


_STYLE = """
body { font: 1rem/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem;
  color: #1b1b1b; background: #fff; }
a { color: #0b57d0; }
:focus-visible { outline: 3px solid #0b57d0; outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .25rem .5rem; }
section { border-top: 1px solid #ccc; margin-top: 1.5rem; }
.method { font-family: ui-monospace, monospace; background: #1b1b1b; color: #fff;
  padding: 0 .4rem; border-radius: .2rem; margin-right: .4rem; }
code, pre { font-family: ui-monospace, monospace; }
pre { background: #f4f4f4; padding: .75rem; overflow: auto; border-radius: .2rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
caption { text-align: left; font-weight: 600; }
th, td { text-align: left; vertical-align: top; padding: .25rem .5rem;
  border-bottom: 1px solid #ddd; }
summary { cursor: pointer; }
@media (prefers-color-scheme: dark) {
  body { color: #eee; background: #121212; }
  a, :focus-visible { color: #8ab4f8; outline-color: #8ab4f8; }
  .skip:focus { background: #121212; }
  pre { background: #1e1e1e; }
  .method { background: #eee; color: #121212; }
}
"""

_SCRIPT = """
(function () {
  "use strict";
  var url = __URL__;
  var main = document.getElementById("endpoints");
  var status = document.getElementById("status");

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function add(parent, child) { parent.appendChild(child); return child; }

  function lookup(doc, ref) {
    return ref.slice(2).split("/").reduce(function (node, key) {
      return node && node[key.replace(/~1/g, "/").replace(/~0/g, "~")];
    }, doc);
  }
  function resolve(doc, node, seen) {
    if (Array.isArray(node)) return node.map(function (n) { return resolve(doc, n, seen); });
    if (!node || typeof node !== "object") return node;
    if (typeof node.$ref === "string" && node.$ref.indexOf("#/") === 0) {
      if (seen.indexOf(node.$ref) >= 0) return { $ref: node.$ref };
      return resolve(doc, lookup(doc, node.$ref), seen.concat([node.$ref]));
    }
    var out = {};
    Object.keys(node).forEach(function (k) { out[k] = resolve(doc, node[k], seen); });
    return out;
  }

  function typeOf(s) {
    if (!s || typeof s !== "object") return "any JSON";
    if (s.anyOf || s.oneOf) return "one of: " + (s.anyOf || s.oneOf).map(function (x) {
      return x.title || typeOf(x);
    }).join(" | ");
    var t = s.type ? [].concat(s.type).join(" or ")
      : (s.enum ? "one of " + s.enum.join(", ") : "any JSON");
    if (t === "array" && s.items) t = "array of " + (s.items.title || typeOf(s.items));
    if (s.format) t += " (" + s.format + ")";
    return t;
  }
  function rows(s, prefix, out, depth, note) {
    if (!s || typeof s !== "object" || depth > 4) return;
    if (s.type === "array" && s.items) {
      rows(s.items, prefix + "[]", out, depth + 1, note);
      return;
    }
    /* e.g. features, when the arms declare different inputs */
    if (prefix && (s.anyOf || s.oneOf)) {
      (s.anyOf || s.oneOf).forEach(function (alt) {
        rows(alt, prefix, out, depth + 1, alt.title || note);
      });
    }
    var required = s.required || [];
    Object.keys(s.properties || {}).forEach(function (name) {
      var p = s.properties[name], path = prefix ? prefix + "." + name : name;
      var text = (p.description || "") + (note ? " (" + note + ")" : "");
      out.push([path, typeOf(p), required.indexOf(name) >= 0 ? "yes" : "no", text]);
      rows(p, path, out, depth + 1, note);
    });
  }
  function table(parent, caption, s) {
    var out = [];
    rows(s, "", out, 0);
    if (!out.length) {
      add(parent, el("p", typeOf(s) + (s && s.description ? ": " + s.description : "")));
      return;
    }
    var t = add(parent, el("table"));
    add(t, el("caption", caption));
    var head = add(add(t, el("thead")), el("tr"));
    ["Field", "Type", "Required", "Description"].forEach(function (h) {
      add(head, el("th", h, { scope: "col" }));
    });
    var body = add(t, el("tbody"));
    out.forEach(function (r) {
      var tr = add(body, el("tr"));
      add(add(tr, el("td")), el("code", r[0]));
      r.slice(1).forEach(function (c) { add(tr, el("td", c)); });
    });
  }
  function pre(parent, label, value) {
    var d = add(parent, el("details"));
    add(d, el("summary", label));
    add(d, el("pre", JSON.stringify(value, null, 2), { tabindex: "0" }));
  }
  function schemaBlock(parent, caption, schema) {
    var alts = schema && (schema.oneOf || schema.anyOf);
    if (alts) {
      alts.forEach(function (alt, i) {
        table(parent, caption + ": " + (alt.title || "form " + (i + 1)), alt);
      });
    } else {
      table(parent, caption, schema);
    }
    pre(parent, caption + " as JSON Schema", schema);
  }

  function render(raw) {
    var doc = resolve(raw, raw, []);
    var info = doc.info || {};
    document.title = (info.title || "API") + " — reference";
    document.getElementById("title").textContent = info.title || "API reference";
    document.getElementById("summary").textContent =
      (info.description || "") + (info.version ? " Version " + info.version + "." : "");
    status.textContent = "";
    var nav = add(main, el("nav", null, { "aria-label": "Endpoints" }));
    var list = add(nav, el("ul"));
    var n = 0;
    Object.keys(doc.paths || {}).forEach(function (path) {
      Object.keys(doc.paths[path]).forEach(function (method) {
        var op = doc.paths[path][method], id = "op-" + (n++);
        var label = method.toUpperCase() + " " + path + (op.summary ? ": " + op.summary : "");
        add(add(list, el("li")), el("a", label, { href: "#" + id }));
        var sec = add(main, el("section", null, { "aria-labelledby": id }));
        var h = add(sec, el("h2", null, { id: id, tabindex: "-1" }));
        add(h, el("span", method.toUpperCase(), { "class": "method" }));
        add(h, el("code", path));
        if (op.summary) add(sec, el("p", op.summary));
        if (op.description) add(sec, el("p", op.description));
        var rb = op.requestBody;
        if (rb) {
          add(sec, el("h3", "Request body"));
          if (rb.description) add(sec, el("p", rb.description));
          Object.keys(rb.content || {}).forEach(function (type) {
            var media = rb.content[type];
            add(sec, el("p")).appendChild(el("code", type));
            schemaBlock(sec, "Request", media.schema);
            Object.keys(media.examples || {}).forEach(function (name) {
              var ex = media.examples[name];
              pre(sec, "Example: " + (ex.summary || name), ex.value);
            });
          });
        }
        add(sec, el("h3", "Responses"));
        var dl = add(sec, el("dl"));
        Object.keys(op.responses || {}).forEach(function (code) {
          var r = op.responses[code];
          add(dl, el("dt")).appendChild(el("strong", code));
          var dd = add(dl, el("dd"));
          add(dd, el("p", r.description || ""));
          Object.keys(r.content || {}).forEach(function (type) {
            var s = r.content[type].schema;
            if (type === "application/json") schemaBlock(dd, "Response " + code, s);
            else add(dd, el("p", type + ": " + typeOf(s)));
          });
        });
      });
    });
  }

  fetch(url, { headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) throw new Error("the server answered " + r.status);
      return r.json();
    })
    .then(render)
    .catch(function (e) { status.textContent = "Could not load " + url + ": " + e.message; });
})();
"""


def _csp_hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def docs_page(openapi_url: str) -> str:
    """A self-contained HTML page that fetches ``openapi_url`` (same origin) and renders its
    endpoints, request schema, examples and responses as labelled tables and headings; nothing
    is loaded from elsewhere, by construction and by its Content-Security-Policy."""
    # JSON is valid JavaScript; escaping <, > and & keeps the URL from closing the script
    url = json.dumps(openapi_url).replace("<", "\\u003c").replace(">", "\\u003e")
    script = _SCRIPT.replace("__URL__", url.replace("&", "\\u0026"))
    policy = (
        f"default-src 'none'; connect-src 'self'; script-src {_csp_hash(script)}; "
        f"style-src {_csp_hash(_STYLE)}; base-uri 'none'; form-action 'none'"
    )
    link = html.escape(openapi_url, quote=True)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<title>API reference</title>
<style>{_STYLE}</style>
</head>
<body>
<a class="skip" href="#endpoints">Skip to the endpoints</a>
<header>
<h1 id="title">API reference</h1>
<p id="summary"></p>
</header>
<main id="endpoints" tabindex="-1">
<p id="status" role="status" aria-live="polite">Loading the API description from
<a href="{link}">{link}</a>…</p>
<noscript><p>This page needs JavaScript to lay out <a href="{link}">the OpenAPI document</a>,
which can also be read as it is.</p></noscript>
</main>
<script>{script}</script>
</body>
</html>
"""
