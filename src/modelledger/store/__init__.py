"""Metadata persistence: SQLAlchemy Core tables, one transactional scope, Alembic migrations.

Rows become domain values at this package's edge; nothing above it sees SQL.
"""
