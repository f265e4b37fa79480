"""Printing: one JSON document under ``--json``, rich tables otherwise; errors go to stderr."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

JSON_HELP = "Print one JSON document on stdout and nothing else."
# The exit status of a command that ran and found nothing to act on: not a success to a script.
NOTHING_TO_ACT_ON = 3


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def table(*columns: str, title: str | None = None, wrap: tuple[str, ...] = ()) -> Any:
    """Columns keep to one line (ellipsis) unless named in ``wrap``: those fold instead."""
    from rich.table import Table

    t = Table(title=title, show_edge=False, header_style="bold")
    for c in columns:
        if c in wrap:
            t.add_column(c, overflow="fold")
        else:
            t.add_column(c, no_wrap=True, overflow="ellipsis")
    return t


_FULL_ID = re.compile(r"\b(mv|ds|ev|tf|sys)-([0-9a-f]{12})[0-9a-f]{52}\b")


def shorten_ids(text: str) -> str:
    """Full ids in running text, shortened for people (``--json`` keeps them whole)."""
    return _FULL_ID.sub(r"\1-\2", text)


def kv_table(rows: list[tuple[str, Any]]) -> Any:
    from rich.table import Table

    t = Table(show_header=False, show_edge=False, box=None, pad_edge=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    for key, value in rows:
        t.add_row(key, "—" if value in (None, "", [], {}) else str(value))
    return t
