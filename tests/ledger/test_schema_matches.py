"""The tables the code declares (``ledger/schema.py``) are the tables the migrations build:
same columns, keys and indexes, on SQLite and PostgreSQL. Queries are planned against the
indexes declared; a migration that builds other ones would leave them slow, silently."""

from sqlalchemy import inspect

from modelledger.ledger.schema import metadata


def test_migrated_schema_is_the_declared_schema(ledger):
    """Index names differ where an early migration named one by hand; their columns may not."""
    found = inspect(ledger.db.engine)
    assert set(found.get_table_names()) - {"alembic_version"} == set(metadata.tables)
    for name, table in metadata.tables.items():
        assert [c["name"] for c in found.get_columns(name)] == [c.name for c in table.c], name
        pk = found.get_pk_constraint(name)["constrained_columns"]
        assert sorted(pk) == sorted(c.name for c in table.primary_key.columns), name
        declared = sorted(tuple(c.name for c in i.columns) for i in table.indexes)
        built = sorted(
            tuple(i["column_names"])
            for i in found.get_indexes(name)
            if not i.get("duplicates_constraint")  # a UNIQUE constraint's own index
        )
        assert built == declared, name
