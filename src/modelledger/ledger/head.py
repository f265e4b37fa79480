"""The schema revision this code expects. Kept in step with the newest migration by
tests/ledger/test_contract.py; comparing against a constant spares every command the import of
Alembic, and this module imports nothing so the stdlib fast paths can use it too."""

SCHEMA_HEAD = "0011"
