"""Printing: one JSON document under ``--json``, rich tables otherwise; errors go to stderr."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

JSON_HELP = "Print one JSON document on stdout and nothing else."
# The exit status of a command that ran and found nothing to act on: not a success to a script.
NOTHING_TO_ACT_ON = 3


_wide: list[bool] = [False]  # ``mledger --wide``: whole ids in human output


def show_wide(on: bool) -> None:
    _wide[0] = on


def id_shown(full_id: str) -> str:
    """An id as people read it: a unique-enough prefix (``ds-c4f6ecb6784c``), or the whole id
    under ``mledger --wide`` (``--json`` always has it whole)."""
    from modelledger.core.ids import short

    return full_id if _wide[0] else short(full_id)


def when(moment: Any) -> str:
    """The one way people see a time: ISO 8601 in UTC to the second, ``2026-03-14T09:30:00Z``
    (``--json`` keeps the ledger's microseconds). ``—`` for none."""
    if moment is None or moment == "":
        return "—"
    from datetime import UTC, datetime

    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text  # not a time after all: shown as given
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def to_json_text(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def emit_json(data: Any) -> None:
    sys.stdout.write(to_json_text(data) + "\n")


# Where stdout is no terminal (a pipe, a file, a CI log) and COLUMNS is unset, rich would lay
# out for 80 columns; a file has no edge, so tables get room before they have to fold.
PIPE_WIDTH = 120
WRAP_MIN = 20  # a column that folds (the answer: a reason, a detail) keeps at least this much


def console() -> Any:
    import os

    from rich.console import Console

    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(highlight=False, soft_wrap=True, width=width)


def table(*columns: str, title: str | None = None, wrap: tuple[str, ...] = ()) -> Any:
    """A table whose cells are never cut: columns keep their values on one line, except those
    named in ``wrap`` (the answer: a reason, a detail), which fold but keep ``WRAP_MIN``
    characters. When the widest row cannot fit, each row is printed as a block of
    ``column: value`` lines instead, so nothing is squeezed, cut or dropped."""
    from rich.table import Table

    class _Table(Table):
        # the cells as given, by row: what the width check and the block view read
        given: list[tuple[Any, ...]]

        def add_row(self, *cells: Any, **kwargs: Any) -> None:
            self.given.append(cells)
            super().add_row(*cells, **kwargs)

        def __rich_console__(self, console: Any, options: Any) -> Any:
            if _needed(self, console) > options.max_width:
                yield from _blocks(self)
            else:
                yield from super().__rich_console__(console, options)

    t = _Table(title=title, show_edge=False, header_style="bold")
    t.given = []
    for c in columns:
        if c in wrap:
            t.add_column(c, overflow="fold", min_width=WRAP_MIN, ratio=1)
        else:
            t.add_column(c, no_wrap=True)
    return t


def _needed(t: Any, console: Any) -> int:
    """The width at which every one-line column shows its longest value whole and every folding
    column keeps ``WRAP_MIN``: cells, padding and the rules between columns."""
    widths: list[int] = []
    for i, column in enumerate(t.columns):
        cells = [column.header, *(row[i] for row in t.given if i < len(row))]
        longest: int = max(
            (console.render_str(c).cell_len if isinstance(c, str) else c.cell_len) for c in cells
        )
        widths.append(min(longest, WRAP_MIN) if column.overflow == "fold" else longest)
    return sum(widths) + 2 * len(widths) + max(len(widths) - 1, 0)


def _blocks(t: Any) -> Any:
    """The rows of ``t`` as blocks of ``column: value`` lines, values folding under their key."""
    from rich.table import Table
    from rich.text import Text

    if t.title:
        yield Text(str(t.title), style="bold")
    names = [str(c.header) for c in t.columns]
    for i, row in enumerate(t.given):
        block = Table.grid(padding=(0, 1))
        block.add_column(style="bold", no_wrap=True)
        block.add_column(overflow="fold")
        for name, cell in zip(names, row, strict=False):
            block.add_row(f"{name}:", cell)
        yield block
        if i + 1 < len(t.given):
            yield Text("")


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


def tree(label: str) -> Any:
    """A rich Tree whose root label folds (see ``folded``) instead of being cut at the edge."""
    from rich.tree import Tree

    return Tree(folded(label))


def folded(markup: str) -> Any:
    """A tree label that folds onto the next line at the edge: a commit hash or an id in it is
    never shortened silently."""
    from rich.text import Text

    text = Text.from_markup(markup, overflow="fold")
    text.no_wrap = False  # the console's soft wrap would otherwise crop it at the edge
    return text
