"""The one way this package opens DuckDB: in memory, bounded, and offline."""

from __future__ import annotations

import os
import tempfile

import duckdb

# DuckDB's buffer manager stays under this; Python, the DuckDB binary and result sets add a few
# hundred MB on top, which keeps a whole diff of two 10M-row files well under 2 GiB of RSS.
MEMORY_LIMIT = "1GB"


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection for reading CSV and Parquet files.

    Extensions are never fetched: parquet and json are built into the wheel, and a query that needs
    anything else should fail rather than reach the network. Spilling goes to a per-process folder
    in the system temp dir, not DuckDB's default ``.tmp`` in whatever directory the user is in.
    """
    return duckdb.connect(
        ":memory:",
        config={
            "memory_limit": MEMORY_LIMIT,
            "threads": os.cpu_count() or 1,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            # We never depend on row order except through ORDER BY; dropping it lets DuckDB
            # stream large aggregates with less memory.
            "preserve_insertion_order": False,
            "temp_directory": os.path.join(tempfile.gettempdir(), f"mledger-duckdb-{os.getpid()}"),
        },
    )
