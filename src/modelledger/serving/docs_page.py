"""The prediction server's ``/docs``: one self-contained HTML file that renders the OpenAPI
document (openapi.py). Its script and style are inline and pinned by hash in its
Content-Security-Policy, which also lets it fetch nothing but the server's own URLs. It works
offline and loads nothing from the network when opened.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json

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
