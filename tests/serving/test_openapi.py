"""The OpenAPI document and docs page of ``mledger serve``: the document's shape (checked by hand:
no OpenAPI validator is a dependency), its features matching the declared inputs the server
checks, and a page that loads nothing from the network."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from modelledger.core.errors import InvalidInput
from modelledger.predictions.records import REQUEST_ID
from modelledger.serving.docs_page import docs_page
from modelledger.serving.features import RESERVED, Contract
from modelledger.serving.openapi import openapi_document

INPUTS = {
    "amount": "float",
    "country": "category",
    "seen_at": "datetime",
    "items": "int",
    "first_order": "bool",
    "channel": "str",
}


def document(arms: dict[str, Any], **kw: Any) -> dict[str, Any]:
    doc = openapi_document("production", arms, version="0.1.0", **kw)
    json.dumps(doc, allow_nan=False)  # plain JSON all through
    return doc


def resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        assert node["$ref"].startswith("#/components/schemas/"), node
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def valid(doc: dict[str, Any], schema: Any, value: Any) -> bool:
    """The few JSON Schema keywords the document uses, enough to try requests against it."""
    s = resolve(doc, schema)
    kinds = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: type(v) is int,
        "number": lambda v: type(v) in (int, float),
        "boolean": lambda v: type(v) is bool,
        "null": lambda v: v is None,
    }
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        if not any(kinds[t](value) for t in types):
            return False
    if "enum" in s and value not in s["enum"]:
        return False
    if "anyOf" in s and not any(valid(doc, alt, value) for alt in s["anyOf"]):
        return False
    if "oneOf" in s and sum(valid(doc, alt, value) for alt in s["oneOf"]) != 1:
        return False
    if isinstance(value, str):
        if not s.get("minLength", 0) <= len(value) <= s.get("maxLength", len(value)):
            return False
        if "pattern" in s and not re.search(s["pattern"], value):
            return False
    if isinstance(value, list):
        if not s.get("minItems", 0) <= len(value) <= s.get("maxItems", len(value)):
            return False
        if "items" in s and not all(valid(doc, s["items"], v) for v in value):
            return False
    if isinstance(value, dict):
        props = s.get("properties", {})
        if any(k not in value for k in s.get("required", [])):
            return False
        if s.get("additionalProperties") is False and any(k not in props for k in value):
            return False
        if "propertyNames" in s and not all(valid(doc, s["propertyNames"], k) for k in value):
            return False
        if not all(valid(doc, props[k], v) for k, v in value.items() if k in props):
            return False
    return not ("not" in s and valid(doc, s["not"], value))


def refs(node: Any) -> list[str]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            if "$ref" in n:
                out.append(n["$ref"])
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return out


def contract_accepts(contract: Contract, features: Any) -> bool:
    try:
        contract.check(features)
    except InvalidInput:
        return False
    return True


# -- the document -----------------------------------------------------------------------------


def test_the_document_is_openapi_3_1_with_every_endpoint():
    doc = document({"primary": INPUTS}, live="fraud@3", max_body_bytes=1024)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {
        "title": "modelledger serving production",
        "version": "0.1.0",
        "description": "Predictions for environment production: serving fraud@3.",
    }
    assert {p: set(ops) for p, ops in doc["paths"].items()} == {
        "/predict": {"post"},
        "/health": {"get"},
        "/version": {"get"},
        "/metrics": {"get"},
    }
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    predict = doc["paths"]["/predict"]["post"]
    assert set(predict["responses"]) >= {"200", "409", "413", "422", "503"}
    for ops in doc["paths"].values():
        for op in ops.values():
            for code, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code) and response["description"]
    assert set(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert "1024 bytes" in predict["requestBody"]["description"]
    for ref in refs(doc):  # every reference resolves
        assert resolve(doc, {"$ref": ref}) is not None
    unprocessable = resolve(
        doc, predict["responses"]["422"]["content"]["application/json"]["schema"]
    )
    assert unprocessable["required"] == ["detail", "field"]


def test_features_are_the_declared_inputs_typed_as_the_server_checks_them():
    contract = Contract(INPUTS)
    doc = document({"primary": contract.inputs})
    features = doc["components"]["schemas"]["Features"]
    assert set(features["properties"]) == set(contract.inputs)
    assert features["required"] == sorted(contract.inputs)
    assert features["additionalProperties"] is False
    types = {name: p["type"] for name, p in features["properties"].items()}
    assert types == {
        "amount": "number",
        "country": ["string", "integer"],
        "seen_at": "string",
        "items": "integer",
        "first_order": "boolean",
        "channel": "string",
    }
    assert features["properties"]["seen_at"]["format"] == "date-time"

    good = {
        "amount": 12,
        "country": 44,
        "seen_at": "2024-05-01T12:00:00Z",
        "items": 2,
        "first_order": True,
        "channel": "web",
    }
    wrong = [
        {**good, "amount": "12"},
        {**good, "items": 2.5},
        {**good, "first_order": 1},
        {**good, "country": None},
        {k: v for k, v in good.items() if k != "channel"},
        {**good, "extra": 1},
    ]
    for features_value in [good, *wrong]:
        assert valid(doc, features, features_value) == contract_accepts(contract, features_value)


def test_the_examples_are_requests_the_server_accepts():
    contract = Contract(INPUTS, sticky_key="user")
    doc = document({"primary": contract.inputs}, sticky_key="user")
    media = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    single = media["examples"]["single"]["value"]
    batch = media["examples"]["batch"]["value"]
    assert valid(doc, media["schema"], single) and valid(doc, media["schema"], batch)
    assert contract_accepts(contract, single["features"])
    assert all(contract_accepts(contract, i["features"]) for i in batch["instances"])
    assert REQUEST_ID.fullmatch(single["request_id"])
    # one request and a batch are told apart; a body that is neither fits no form
    assert not valid(doc, media["schema"], {"features": single["features"], "instances": []})
    assert not valid(doc, media["schema"], {"instances": []})


def test_the_sticky_key_rides_along_required():
    doc = document({"primary": {"amount": "float"}}, sticky_key="user")
    features = doc["components"]["schemas"]["Features"]
    assert features["required"] == ["amount", "user"]
    assert valid(doc, features, {"amount": 1.0, "user": 7})
    assert not valid(doc, features, {"amount": 1.0})
    # a sticky key the model takes itself keeps its declared type
    doc = document({"primary": {"user": "str"}}, sticky_key="user")
    assert doc["components"]["schemas"]["Features"]["properties"]["user"]["type"] == "string"


def test_a_version_without_declared_inputs_takes_a_free_object():
    doc = document({"primary": None})
    features = doc["components"]["schemas"]["Features"]
    assert features["type"] == "object" and "properties" not in features
    assert "additionalProperties" not in features
    assert valid(doc, features, {"anything": [1, 2], "x": "y"})
    reserved = sorted(RESERVED)[0]
    assert not valid(doc, features, {reserved: 1})
    assert not contract_accepts(Contract(None), {reserved: 1})


def test_nothing_live_and_arms_that_differ():
    doc = document({})
    features = doc["components"]["schemas"]["Features"]
    assert features["type"] == "object" and "503" in features["description"]
    assert "nothing live" in doc["info"]["description"]

    same = document({"primary": {"a": "float"}, "canary-1": {"a": "float"}})
    assert same["components"]["schemas"]["Features"]["properties"] == {
        "a": {"type": "number", "description": "float: a number (an integer is a float too)"}
    }
    differ = document(
        {
            "primary": {"a": "float"},
            "canary-1": {"a": "float", "b": "int"},
            "canary-2": {"a": "float"},
        }
    )
    alternatives = differ["components"]["schemas"]["Features"]["anyOf"]
    assert [alt["title"] for alt in alternatives] == [
        "inputs of primary, canary-2",
        "inputs of canary-1",
    ]
    assert [alt["required"] for alt in alternatives] == [["a"], ["a", "b"]]


def test_the_request_id_schema_is_the_servers_rule():
    doc = document({"primary": None})
    schema = doc["components"]["schemas"]["RequestId"]
    for request_id in [
        "req-0001",
        "a",
        "x" * 128,
        "!#~[]",
        "a b",
        "",
        "x" * 129,
        'q"',
        "é",
        "a\\b",
    ]:
        assert valid(doc, schema, request_id) == bool(REQUEST_ID.fullmatch(request_id)), request_id


# -- the docs page ----------------------------------------------------------------------------


def test_the_docs_page_loads_nothing_from_the_network():
    page = docs_page("/openapi.json")
    assert "http://" not in page and "https://" not in page
    assert "//" not in page  # nor a protocol-relative one
    assert not re.search(r"<(link|img|iframe)\b|<script[^>]*\bsrc=|@import|url\(", page)
    assert '"/openapi.json"' in page
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)[1]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for tag in ("script", "style"):
        [body] = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy


def test_the_docs_page_is_labelled():
    page = docs_page("/openapi.json")
    assert '<html lang="en">' in page
    assert 'role="status"' in page and "<main" in page and "<noscript>" in page
    assert 'href="#endpoints"' in page  # skip link


def test_a_hostile_url_cannot_break_out_of_the_page():
    page = docs_page('/x"</script><script>alert(1)</script>&')
    assert page.count("</script>") == 1
    assert "<script>alert" not in page


SHIM = r"""
const fs = require("fs");
const [script, docPath] = process.argv.slice(2);
function El(tag) { this.tag = tag; this.children = []; this.attrs = {}; this.textContent = ""; }
El.prototype.appendChild = function (c) { this.children.push(c); return c; };
El.prototype.setAttribute = function (k, v) { this.attrs[k] = String(v); };
const byId = {};
for (const id of ["endpoints", "status", "title", "summary"]) byId[id] = new El(id);
global.document = { title: "", createElement: (t) => new El(t), getElementById: (id) => byId[id] };
global.fetch = () => Promise.resolve({ ok: true, status: 200,
  json: () => Promise.resolve(JSON.parse(fs.readFileSync(docPath, "utf8"))) });
function text(n) { return [n.textContent].concat(n.children.map(text)).join(" "); }
eval(fs.readFileSync(script, "utf8"));
setTimeout(() => {
  process.stdout.write(JSON.stringify({ title: document.title, status: byId.status.textContent,
    text: text(byId.endpoints) }));
}, 50);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_docs_page_script_renders_the_document(tmp_path):
    # the page's own script, run by node against a stand-in DOM and fetch
    doc = document({"primary": INPUTS}, sticky_key="user", live="fraud@3")
    page = docs_page("/openapi.json")
    [script] = re.findall(r"<script>(.*?)</script>", page, re.S)
    (tmp_path / "page.js").write_text(script)
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    (tmp_path / "shim.js").write_text(SHIM)
    out = subprocess.run(
        ["node", str(tmp_path / "shim.js"), str(tmp_path / "page.js"), str(tmp_path / "doc.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rendered = json.loads(out.stdout)
    assert rendered["title"].startswith("modelledger serving production")
    assert rendered["status"] == ""
    for expected in ["POST", "/predict", "/health", "/version", "/metrics", "413", "422"]:
        assert expected in rendered["text"]
    for name in [*INPUTS, "user"]:
        assert f"features.{name}" in rendered["text"]
        assert f"instances[].features.{name}" in rendered["text"]
