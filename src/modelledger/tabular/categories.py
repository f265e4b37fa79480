"""Category diff: which values of a low-cardinality column vanished, appeared or changed share.

Counts come from one GROUPING SETS query per table (one scan for all chosen columns) into a temp
table; the two are then compared inside DuckDB so that a high-cardinality ``--by`` column never
brings millions of groups back to Python — only the top of each list does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.tabular.profile import Profile
from modelledger.tabular.reading import Reader, Source
from modelledger.tabular.sql import ident, is_categorical
from modelledger.tabular.values import share

LIST_LIMIT = 100  # vanished/appeared values listed per column (totals are always exact)
MOVED_LIMIT = 10
# A column whose distinct count is at least this fraction of its non-null values is an
# identifier (user ids, timestamps as text), not a category: counting its values says nothing.
ID_LIKE_RATIO = 0.9


@dataclass(frozen=True)
class CategoryCount:
    value: str | None
    count: int
    share: float

    def to_json(self, side: str) -> dict[str, Any]:
        return {"value": self.value, f"count_{side}": self.count, f"share_{side}": self.share}


@dataclass(frozen=True)
class CategoryMove:
    value: str | None
    count_a: int
    count_b: int
    share_a: float
    share_b: float

    @property
    def delta(self) -> float:
        return round(self.share_b - self.share_a, 6)

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "count_a": self.count_a,
            "count_b": self.count_b,
            "share_a": self.share_a,
            "share_b": self.share_b,
            "delta": self.delta,
        }


@dataclass(frozen=True)
class CategoryDiff:
    column: str
    distinct_a: int
    distinct_b: int
    vanished: tuple[CategoryCount, ...]  # largest first, at most LIST_LIMIT
    vanished_total: int
    appeared: tuple[CategoryCount, ...]
    appeared_total: int
    moved: tuple[CategoryMove, ...]  # largest |delta| first, values present on both sides

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "distinct": {"a": self.distinct_a, "b": self.distinct_b},
            "vanished": [c.to_json("a") for c in self.vanished],
            "vanished_total": self.vanished_total,
            "appeared": [c.to_json("b") for c in self.appeared],
            "appeared_total": self.appeared_total,
            "moved": [m.to_json() for m in self.moved],
        }


def category_columns(
    a: Source,
    b: Source,
    common: list[str],
    pa: Profile,
    pb: Profile,
    *,
    by: list[str],
    exclude: list[str],
    max_categories: int,
) -> list[str]:
    """The common columns to count categories of: every ``by`` column, plus low-cardinality ones."""
    chosen = list(by)
    for name in common:
        if name in by or name in exclude:
            continue
        if not (is_categorical(a.type_of(name) or "") and is_categorical(b.type_of(name) or "")):
            continue
        if all(_looks_categorical(p, name, max_categories) for p in (pa, pb)) and any(
            p.columns[name].approx_distinct for p in (pa, pb)
        ):
            chosen.append(name)
    return chosen


def candidate_columns(a: Source, b: Source, common: list[str]) -> set[str]:
    """Columns worth an approximate distinct count in the profiling pass."""
    return {
        n
        for n in common
        if is_categorical(a.type_of(n) or "") and is_categorical(b.type_of(n) or "")
    }


def looks_like_id(p: Profile, name: str) -> bool:
    """Nearly every non-null value distinct (only known for category candidates)."""
    column = p.columns[name]
    distinct = column.approx_distinct or 0
    return column.non_null >= 2 and distinct >= ID_LIKE_RATIO * column.non_null


def _looks_categorical(p: Profile, name: str, max_categories: int) -> bool:
    distinct = p.columns[name].approx_distinct or 0
    return distinct <= max_categories and not looks_like_id(p, name)


def category_diffs(
    reader: Reader, a: Source, b: Source, columns: list[str], rows_a: int, rows_b: int
) -> list[CategoryDiff]:
    if not columns:
        return []
    for name, source in (("cat_a", a), ("cat_b", b)):
        reader.fetchall(f"CREATE TEMP TABLE {name} AS {_grouping_sql(source, columns)}")
    joined = """
        SELECT coalesce(a.col, b.col) AS col, coalesce(a.value, b.value) AS value,
               coalesce(a.n, 0) AS na, coalesce(b.n, 0) AS nb
        FROM cat_a AS a FULL OUTER JOIN cat_b AS b
          ON a.col = b.col AND a.value IS NOT DISTINCT FROM b.value
    """
    totals = {
        int(r[0]): r[1:]
        for r in reader.fetchall(
            f"""
            SELECT col,
                   count(*) FILTER (WHERE na > 0), count(*) FILTER (WHERE nb > 0),
                   count(*) FILTER (WHERE nb = 0), count(*) FILTER (WHERE na = 0)
            FROM ({joined}) GROUP BY col
            """
        )
    }
    # Shares na/rows_a and nb/rows_b are compared exactly by cross-multiplying in HUGEINT
    # (|nb·rows_a − na·rows_b| is |Δshare|·rows_a·rows_b), so identical distributions never show
    # float noise as a move and equal moves tie exactly, to be ordered by value.
    listed = reader.fetchall(
        f"""
        SELECT col, kind, value, na, nb FROM (
            SELECT col, value, na, nb,
                   CASE WHEN nb = 0 THEN 'vanished' WHEN na = 0 THEN 'appeared' ELSE 'moved' END
                     AS kind,
                   CASE WHEN nb = 0 THEN CAST(na AS HUGEINT) WHEN na = 0 THEN CAST(nb AS HUGEINT)
                        ELSE abs(CAST(nb AS HUGEINT) * $rows_a - CAST(na AS HUGEINT) * $rows_b)
                   END AS weight
            FROM ({joined})
            WHERE NOT (na > 0 AND nb > 0
                       AND CAST(na AS HUGEINT) * $rows_b = CAST(nb AS HUGEINT) * $rows_a)
        )
        QUALIFY row_number() OVER (PARTITION BY col, kind ORDER BY weight DESC, value NULLS FIRST)
                <= CASE kind WHEN 'moved' THEN {MOVED_LIMIT} ELSE {LIST_LIMIT} END
        ORDER BY col, kind, weight DESC, value NULLS FIRST
        """,
        {"rows_a": rows_a, "rows_b": rows_b},
    )
    out: list[CategoryDiff] = []
    for index, name in enumerate(columns):
        distinct_a, distinct_b, vanished_total, appeared_total = (
            int(x) for x in totals.get(index, (0, 0, 0, 0))
        )
        mine = [r for r in listed if r[0] == index]
        out.append(
            CategoryDiff(
                column=name,
                distinct_a=distinct_a,
                distinct_b=distinct_b,
                vanished=tuple(
                    CategoryCount(v, int(na), share(int(na), rows_a))
                    for _, kind, v, na, _ in mine
                    if kind == "vanished"
                ),
                vanished_total=vanished_total,
                appeared=tuple(
                    CategoryCount(v, int(nb), share(int(nb), rows_b))
                    for _, kind, v, _, nb in mine
                    if kind == "appeared"
                ),
                appeared_total=appeared_total,
                moved=tuple(
                    CategoryMove(
                        v, int(na), int(nb), share(int(na), rows_a), share(int(nb), rows_b)
                    )
                    for _, kind, v, na, nb in mine
                    if kind == "moved"
                ),
            )
        )
    return out


def _grouping_sql(source: Source, columns: list[str]) -> str:
    """Value counts of every column in one scan; GROUPING() tells which set a row belongs to,
    which also keeps a real NULL value apart from 'not grouped by this column'."""
    cols = [ident(n) for n in columns]
    which = " ".join(f"WHEN GROUPING({c}) = 0 THEN {i}" for i, c in enumerate(cols))
    value = " ".join(f"WHEN GROUPING({c}) = 0 THEN CAST({c} AS VARCHAR)" for c in cols)
    sets = ", ".join(f"({c})" for c in cols)
    return (
        f"SELECT CASE {which} END AS col, CASE {value} END AS value, count(*) AS n "
        f"FROM {source.view} GROUP BY GROUPING SETS ({sets})"
    )
