"""A gate report as a table, and its failures one per line: promote, gate check, requests."""

from __future__ import annotations

from typing import Any

from modelledger.console.output import console, shorten_ids, table


def _value(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def print_gate(report: dict[str, Any], title: str) -> None:
    out = console()
    t = table("criterion", "value", "bar", "result", title=shorten_ids(title), wrap=("bar",))
    for c in report["criteria"]:
        mark = "[green]pass[/green]" if c["passed"] else "[red bold]FAIL[/red bold]"
        t.add_row(c["name"], shorten_ids(_value(c["value"])), shorten_ids(c["bar"]), mark)
    out.print(t)
    for c in report["criteria"]:
        if not c["passed"]:
            out.print(f"[red]✗[/red] {c['name']}: {c['detail']}", highlight=False)
