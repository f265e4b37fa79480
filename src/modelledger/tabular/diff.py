"""Diff two tables: schema, per-column statistics, categories, optional keyed rows, findings.

Scans per table, without a key: one aggregate pass (``profile``) and one GROUPING SETS pass for
the category columns it picks. A key adds the anti/inner joins of ``keyed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.core.errors import InvalidInput
from modelledger.tabular.categories import (
    CategoryDiff,
    candidate_columns,
    category_columns,
    category_diffs,
    looks_like_id,
)
from modelledger.tabular.columns import ColumnDiff, SchemaDiff, column_diffs, schema_diff
from modelledger.tabular.findings import Finding, findings
from modelledger.tabular.keyed import KeyedDiff, keyed_diff
from modelledger.tabular.profile import exact_quantiles_fit, profile
from modelledger.tabular.reading import Reader, with_reader
from modelledger.tabular.sql import is_numeric
from modelledger.tabular.table import Table


@dataclass(frozen=True)
class TableDiff:
    a: str  # label of the old table
    b: str  # label of the new table
    rows_a: int
    rows_b: int
    schema: SchemaDiff
    columns: tuple[ColumnDiff, ...]  # common columns, in A's order
    categories: tuple[CategoryDiff, ...]
    keyed: KeyedDiff | None
    findings: tuple[Finding, ...]  # most important first

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "rows": {"a": self.rows_a, "b": self.rows_b},
            "schema": self.schema.to_json(),
            "columns": [c.to_json() for c in self.columns],
            "categories": [c.to_json() for c in self.categories],
            "keyed": None if self.keyed is None else self.keyed.to_json(),
            "findings": [f.to_json() for f in self.findings],
        }


def diff_tables(
    a: Table,
    b: Table,
    *,
    key: list[str] | None = None,
    by: list[str] | None = None,
    sample: int = 5,
    max_categories: int = 1000,
) -> TableDiff:
    """Compare table ``a`` (old) with ``b`` (new).

    ``by`` columns get a category diff whatever their cardinality; other common columns get one
    when they look like categories (see ``categories.category_columns``). With ``key``, rows are
    matched by key and up to ``sample`` examples of added, removed and changed rows are kept.
    """
    if sample < 0:
        raise InvalidInput(f"sample must be 0 or more, got {sample}")
    if max_categories < 1:
        raise InvalidInput(f"max_categories must be 1 or more, got {max_categories}")
    key, by = list(dict.fromkeys(key or [])), list(dict.fromkeys(by or []))  # repeats: once
    return with_reader(lambda reader: _diff(reader, a, b, key, by, sample, max_categories))


def _diff(
    reader: Reader,
    a: Table,
    b: Table,
    key: list[str],
    by: list[str],
    sample: int,
    max_categories: int,
) -> TableDiff:
    sa, sb = reader.open(a), reader.open(b)
    for source in (sa, sb):
        source.require(key, "--key")
        source.require(by, "--by")
    schema, common = schema_diff(sa, sb)
    numeric = {
        n for n in common if is_numeric(sa.type_of(n) or "") and is_numeric(sb.type_of(n) or "")
    }
    candidates = candidate_columns(sa, sb, common) - set(by) - set(key)
    # One method for both sides, so identical data always shows identical quantiles.
    exact = exact_quantiles_fit(reader, [sa, sb], len(numeric))
    pa = profile(reader, sa, common, numeric=numeric, distinct=candidates, exact_quantiles=exact)
    pb = profile(reader, sb, common, numeric=numeric, distinct=candidates, exact_quantiles=exact)
    chosen = category_columns(
        sa, sb, common, pa, pb, by=by, exclude=key, max_categories=max_categories
    )
    categories = category_diffs(reader, sa, sb, chosen, pa.rows, pb.rows)
    columns = column_diffs(common, numeric, pa, pb)
    keyed = None
    if key:
        compared = [n for n in common if n not in key]
        keyed = keyed_diff(reader, sa, sb, key, compared, sample)
    # The mean of an identifier moves whenever rows come and go; saying so is noise.
    ids = set(key) | {n for n in candidates if looks_like_id(pa, n) and looks_like_id(pb, n)}
    return TableDiff(
        a=a.label,
        b=b.label,
        rows_a=pa.rows,
        rows_b=pb.rows,
        schema=schema,
        columns=columns,
        categories=tuple(categories),
        keyed=keyed,
        findings=findings(
            (a.label, b.label),
            pa.rows,
            pb.rows,
            schema=schema,
            columns=columns,
            categories=categories,
            keyed=keyed,
            ids=ids,
        ),
    )
