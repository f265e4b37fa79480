"""Database triggers that make append-only tables refuse UPDATE and DELETE, even from raw SQL."""

from __future__ import annotations

IMMUTABLE_MESSAGE = "mledger: rows of this table are immutable"
# what a unique key says: a plain insert of a key that is there stays a conflict, as before
REPLACE_MESSAGE = "UNIQUE constraint failed (mledger: a row is never replaced)"


def install_sql(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE_MESSAGE}: {table}'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION mledger_immutable()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION mledger_immutable()",
        ]
    raise NotImplementedError(f"no immutability triggers for dialect {dialect}")


def no_replace_sql(table: str, key: list[str]) -> str:
    """SQLite: refuse an insert whose primary key is already there, which is what REPLACE and
    upserts do to rewrite a row (their implicit delete fires no DELETE trigger)."""
    same = " AND ".join(f'"{c}" = NEW."{c}"' for c in key)
    return (
        f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {same}) "
        f"BEGIN SELECT RAISE(ABORT, '{REPLACE_MESSAGE}: {table}'); END"
    )


def function_sql(dialect: str) -> list[str]:
    if dialect != "postgresql":
        return []
    return [
        "CREATE OR REPLACE FUNCTION mledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{IMMUTABLE_MESSAGE}: %', TG_TABLE_NAME "
        "USING ERRCODE = 'integrity_constraint_violation'; END $$"
    ]
