"""DuckDB helpers for CSV and Parquet files: table diff, leakage overlap, record counts.

Knows nothing of the ledger or the blob store: callers hand in local paths with an explicit format
(blobs have no extension) and the label to name the file by in messages.
"""

from __future__ import annotations

from modelledger.tabular.connection import connect
from modelledger.tabular.diff import TableDiff, diff_tables
from modelledger.tabular.overlap import Overlap, overlap
from modelledger.tabular.records import count_matching
from modelledger.tabular.table import Table, table_format

__all__ = [
    "Overlap",
    "Table",
    "TableDiff",
    "connect",
    "count_matching",
    "diff_tables",
    "overlap",
    "table_format",
]
