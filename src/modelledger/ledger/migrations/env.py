"""Alembic environment: always runs on a connection handed over by ``modelledger.ledger.db``."""

from __future__ import annotations

from alembic import context

from modelledger.ledger.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
