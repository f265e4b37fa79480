"""Small SQL-building helpers: quoting and DuckDB type families.

Every identifier that reaches SQL goes through ``ident`` and every file path through ``literal``;
user-given *values* are never formatted into SQL — they are bound as parameters by the caller.
"""

from __future__ import annotations

import re

_INTEGER_TYPES = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    }
)
_FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE"})
_DECIMAL = re.compile(r"DECIMAL\(\d+,\s*\d+\)")


def ident(name: str) -> str:
    """A column name as a DuckDB identifier (double quotes, embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A string constant for places DuckDB cannot take a bound parameter (table functions in views)."""
    return "'" + text.replace("'", "''") + "'"


def is_integer(type_name: str) -> bool:
    return type_name in _INTEGER_TYPES


def is_numeric(type_name: str) -> bool:
    return (
        type_name in _INTEGER_TYPES
        or type_name in _FLOAT_TYPES
        or _DECIMAL.fullmatch(type_name) is not None
    )


def is_categorical(type_name: str) -> bool:
    """Types whose values can sensibly be counted as categories when there are few of them.

    Floats and decimals are measurements, not labels; timestamps are ordered, not grouped.
    """
    return (
        type_name in ("VARCHAR", "BOOLEAN")
        or type_name in _INTEGER_TYPES
        or type_name.startswith("ENUM(")
    )


# Space, tab, newline, vertical tab, form feed, carriage return: what a human calls whitespace
# around a value. DuckDB's one-argument trim() removes spaces only.
_WHITESPACE = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"


def trimmed_text(expr: str) -> str:
    """``expr`` as VARCHAR with surrounding whitespace removed (NULL stays NULL)."""
    return f"trim(CAST({expr} AS VARCHAR), {_WHITESPACE})"
