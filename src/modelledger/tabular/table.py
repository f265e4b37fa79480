"""What a tabular file is to us: a local path, its format, and the name to show the user.

Blobs are stored under their content hash with no extension, so the format cannot be guessed from
``path``; callers derive it from the file's name inside its snapshot (``table_format``) and pass it.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelledger.core.errors import InvalidInput

FORMATS = ("csv", "tsv", "csv.gz", "tsv.gz", "parquet")

# Longest suffix first so "x.csv.gz" is not taken for something ending in ".gz" alone.
_SUFFIXES = (
    (".csv.gz", "csv.gz"),
    (".tsv.gz", "tsv.gz"),
    (".csv", "csv"),
    (".tsv", "tsv"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
)


@dataclass(frozen=True)
class Table:
    path: str  # local file to read
    fmt: str  # one of FORMATS
    label: str  # the file's relative path inside its snapshot, used in every message

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise InvalidInput(
                f"{self.label}: unknown table format {self.fmt!r} (expected one of {', '.join(FORMATS)})"
            )

    @property
    def is_delimited(self) -> bool:
        """CSV or TSV, compressed or not: read by DuckDB's CSV reader."""
        return self.fmt != "parquet"


def table_format(relpath: str) -> str | None:
    """The format of a file judged by its name, or None when it is not a table we read."""
    lowered = relpath.lower()
    for suffix, fmt in _SUFFIXES:
        if lowered.endswith(suffix):
            return fmt
    return None
