"""Database triggers that make append-only tables refuse UPDATE and DELETE, even from raw SQL."""

from __future__ import annotations

IMMUTABLE_MESSAGE = "mledger: rows of this table are immutable"


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


def function_sql(dialect: str) -> list[str]:
    if dialect != "postgresql":
        return []
    return [
        "CREATE OR REPLACE FUNCTION mledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{IMMUTABLE_MESSAGE}: %', TG_TABLE_NAME "
        "USING ERRCODE = 'integrity_constraint_violation'; END $$"
    ]
