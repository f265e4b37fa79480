"""A lineage as an SVG graph: columns from the oldest inputs on the left to the version on the
right (data a transform read, the snapshots trained on, parents and base models by depth), each
node a link to its page. Pure: nodes and edges in, SVG text out."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH, HEIGHT = 200, 44  # a node's box
GAP_X, GAP_Y = 70, 22


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: str  # version | snapshot | external | transform-input
    column: int  # 0: the subject; negative: what it came from; positive: what came from it
    href: str | None
    note: str = ""  # the relation: parent, base, train, eval …


def lineage_nodes(
    lineage: dict[str, Any], derived: list[dict[str, Any]]
) -> tuple[list[Node], list[tuple[str, str]]]:
    """Nodes and edges (from, to) for ``models.reads.lineage``'s answer and the transforms that
    made its snapshots (``derived``: each ``{"output", "inputs", "step"}``)."""
    nodes: dict[str, Node] = {}
    edges: list[tuple[str, str]] = []

    def add(node: Node) -> None:
        if node.id not in nodes or abs(node.column) > abs(nodes[node.id].column):
            nodes[node.id] = node

    add(Node(lineage["id"], lineage["label"], "version", 0, f"/ui/versions/{lineage['id']}"))
    for d in lineage["data"]:
        add(
            Node(
                d["id"],
                d.get("name") or d["id"][:15],
                "snapshot",
                -1,
                f"/ui/snapshots/{d['id']}",
                d["role"],
            )
        )
        edges.append((d["id"], lineage["id"]))
    for tf in derived:
        for source in tf["inputs"]:
            column = nodes[tf["output"]].column - 1 if tf["output"] in nodes else -2
            add(
                Node(source, source[:15], "snapshot", column, f"/ui/snapshots/{source}", tf["step"])
            )
            edges.append((source, tf["output"]))
    for a in lineage["ancestors"]:
        external = a.get("external", False)
        href = None if external else f"/ui/versions/{a['id']}"
        label = a["id"] if external else a.get("label", a["id"])
        add(
            Node(
                a["id"],
                label,
                "external" if external else "version",
                -a["depth"],
                href,
                a["relation"],
            )
        )
        edges.append((a["id"], a["of"]))
    for c in lineage.get("children", []):
        add(Node(c["id"], c["label"], "version", 1, f"/ui/versions/{c['id']}", "child"))
        edges.append((lineage["id"], c["id"]))
    return list(nodes.values()), edges


def svg(nodes: list[Node], edges: list[tuple[str, str]], title: str) -> str:
    """The graph drawn: columns left to right, nodes in the order given within a column."""
    columns = sorted({n.column for n in nodes})
    place: dict[str, tuple[int, int]] = {}
    rows = 0
    for i, column in enumerate(columns):
        members = [n for n in nodes if n.column == column]
        for j, n in enumerate(members):
            place[n.id] = (i * (WIDTH + GAP_X), j * (HEIGHT + GAP_Y))
        rows = max(rows, len(members))
    width = len(columns) * (WIDTH + GAP_X) - GAP_X
    height = rows * (HEIGHT + GAP_Y) - GAP_Y
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-2 -2 {width + 4} {height + 4}" '
        f'width="{width + 4}" height="{height + 4}" role="img" aria-labelledby="graph-title">',
        f'<title id="graph-title">{escape(title)}</title>',
    ]
    for a, b in edges:
        if a not in place or b not in place:
            continue
        (x1, y1), (x2, y2) = place[a], place[b]
        sx, sy, ex, ey = x1 + WIDTH, y1 + HEIGHT / 2, x2, y2 + HEIGHT / 2
        mid = (sx + ex) / 2
        out.append(
            f'<path class="edge" d="M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}" fill="none"/>'
        )
    for n in nodes:
        x, y = place[n.id]
        box = (
            f'<rect class="node {n.kind}" x="{x}" y="{y}" width="{WIDTH}" height="{HEIGHT}" rx="6"/>'
            f'<text x="{x + 10}" y="{y + 18}" class="label">{escape(_cut(n.label, 24))}</text>'
            f'<text x="{x + 10}" y="{y + 35}" class="note">{escape(_cut(n.note or n.kind, 28))}</text>'
        )
        if n.href:
            out.append(f'<a href="{escape(n.href)}"><title>{escape(n.label)}</title>{box}</a>')
        else:
            out.append(f"<g><title>{escape(n.label)}</title>{box}</g>")
    out.append("</svg>")
    return "".join(out)


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
