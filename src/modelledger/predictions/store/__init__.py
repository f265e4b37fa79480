"""The inference log's tables: predictions, their Parquet segments, and feedback.

One module per job: :mod:`.query` runs plain SQL through whichever driver is at hand,
:mod:`.writes` appends predictions, segments and feedback, :mod:`.reads` answers what the writers
check first (which ids, keys and feedback are already recorded), :mod:`.audit` gathers the rows of
``audit prediction``, :mod:`.window` picks a window of the log and how to read it, :mod:`.arms`
compares arms, and :mod:`.judged` is the public read of predictions judged by their feedback
(``predictions compare`` and the drift checks both use its rule).

Two things shape this package. Bulk inserts go through the raw DBAPI connection underneath the
SQLAlchemy one (``executemany`` on SQLite, ``COPY`` on PostgreSQL), inside the caller's write
transaction: building a SQLAlchemy statement per row would cost more than the insert. And the
audit lookup answers through the stdlib sqlite3 driver on SQLite (see ``Ledger.quick``): an
``audit prediction`` process must not pay for importing SQLAlchemy. So reads are plain SQL with
``:name`` parameters, run by a :data:`~.query.Query` that either driver provides, and these
modules import SQLAlchemy only inside the functions that need it. This ``__init__`` imports
nothing, so that importing one module does not import the others.
"""
