"""Human output of ``mledger data diff``: the findings first (a vanished category at the very
top), then files, then each table's numbers."""

from __future__ import annotations

from typing import Any

from modelledger.console.output import id_shown, table

_MARK = {"alert": "[bold red]!![/]", "warn": "[yellow]![/] ", "info": "  "}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _num(x: Any) -> str:
    return "—" if x is None else f"{x:,.4g}" if isinstance(x, float) else f"{x:,}"


def print_diff(out: Any, d: dict[str, Any], max_findings: int = 15) -> None:
    a, b = d["a"], d["b"]
    out.print(
        f"[bold]data diff[/] {a['name']} {id_shown(a['id'])} → {b['name']} {id_shown(b['id'])}"
    )
    if d["identical"]:
        out.print("identical: same bytes, same snapshot")
        return
    findings = d["findings"]
    if findings:
        out.print()
        for f in findings[:max_findings]:
            where = f"  [dim]({f['table']})[/]" if len(d["tables"]) > 1 else ""
            out.print(f"{_MARK.get(f['severity'], '  ')} {f['message']}{where}")
        if len(findings) > max_findings:
            out.print(f"   … {len(findings) - max_findings} more findings (--json lists all)")
    files = d["files"]
    out.print()
    out.print(
        f"files: {len(files['modified'])} modified, {len(files['added'])} added, "
        f"{len(files['removed'])} removed, {files['unchanged']} unchanged"
    )
    for kind, sign in (("added", "+"), ("removed", "-")):
        for f in files[kind][:20]:
            out.print(f"  {sign} {f['path']} ({f['size']:,} bytes)")
    for f in files["modified"][:20]:
        out.print(f"  ~ {f['path']} ({f['size_a']:,} → {f['size_b']:,} bytes)")
    if d["note"]:
        out.print(f"\n{d['note']}")
    for t in d["tables"]:
        _print_table(out, t)


def _print_table(out: Any, t: dict[str, Any]) -> None:
    name = t["path_b"] if t["path_a"] == t["path_b"] else f"{t['path_a']} → {t['path_b']}"
    rows = t["rows"]
    change = (rows["b"] - rows["a"]) / rows["a"] * 100 if rows["a"] else 0.0
    out.print(f"\n[bold]table {name}[/]: rows {rows['a']:,} → {rows['b']:,} ({change:+.1f}%)")
    schema = t["schema"]
    for c in schema["added"]:
        out.print(f"  + column {c['name']} {c['type']}")
    for c in schema["removed"]:
        out.print(f"  - column {c['name']} {c['type']}")
    for c in schema["type_changed"]:
        out.print(f"  ~ column {c['name']}: {c['a']} → {c['b']}")
    cols = table("column", "null A", "null B", "mean A", "mean B", "p50 A", "p50 B")
    for c in t["columns"]:
        mean, q = c.get("mean") or {}, (c.get("quantiles") or {}).get("p50") or {}
        cols.add_row(
            c["name"],
            _pct(c["null_rate"]["a"]),
            _pct(c["null_rate"]["b"]),
            _num(mean.get("a")),
            _num(mean.get("b")),
            _num(q.get("a")),
            _num(q.get("b")),
        )
    out.print(cols)
    # a column is worth a table when something vanished, appeared or moved by a point or more
    telling = [
        c
        for c in t["categories"]
        if c["vanished"] or c["appeared"] or any(abs(v["delta"]) >= 0.01 for v in c["moved"])
    ]
    telling.sort(key=lambda c: (not c["vanished"], not c["appeared"]))
    for cat in telling:
        moved = table("value", "count A", "count B", "share A", "share B", title=cat["column"])
        gone = {v["value"] for v in cat["vanished"]}
        for v in cat["vanished"]:
            moved.add_row(
                f"[red]{v['value']} (vanished)[/]",
                f"{v['count_a']:,}",
                "0",
                _pct(v["share_a"]),
                "0.0%",
            )
        for v in cat["appeared"]:
            moved.add_row(
                f"[green]{v['value']} (new)[/]",
                "0",
                f"{v['count_b']:,}",
                "0.0%",
                _pct(v["share_b"]),
            )
        for v in cat["moved"]:
            if v["value"] not in gone:
                moved.add_row(
                    str(v["value"]),
                    f"{v['count_a']:,}",
                    f"{v['count_b']:,}",
                    _pct(v["share_a"]),
                    _pct(v["share_b"]),
                )
        out.print(moved)
    keyed = t.get("keyed")
    if keyed:
        key = ",".join(keyed["key"])
        out.print(
            f"  by key {key}: {keyed['added']['count']:,} added, "
            f"{keyed['removed']['count']:,} removed, {keyed['changed']['count']:,} changed"
        )
        for row in keyed["removed"]["sample"]:
            out.print(f"    - {row}")
        for row in keyed["added"]["sample"]:
            out.print(f"    + {row}")
        for row in keyed["changed"]["sample"]:
            out.print(f"    ~ {row['key']}: {row['columns']}")
