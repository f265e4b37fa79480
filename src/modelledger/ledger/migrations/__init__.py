"""Alembic migrations of the ledger's schema (revision ids are never renamed)."""
