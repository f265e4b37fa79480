"""Statements run on the driver's cursor behave as through SQLAlchemy, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import Column, MetaData, PickleType, Table, bindparam, insert, select

from modelledger.core.errors import Conflict, ImmutableRecord
from modelledger.ledger import events as events_store
from modelledger.ledger.prepared import Prepared
from modelledger.ledger.schema import events, model_versions
from tests.ledger.test_contract import _register

_EVENT = Prepared(select(events).where(events.c.seq == bindparam("seq")))
_INSERT_EVENT = Prepared(insert(events))
_RENAME = Prepared(
    model_versions.update().where(model_versions.c.id == bindparam("vid")).values(name="other")
)


def test_rows_read_back_by_column_name_and_as_a_scalar(ledger, project):
    version = _register(ledger, project)
    with ledger.db.read() as conn:
        row = _EVENT.first(conn, {"seq": 1})
        assert (
            row is not None and row["kind"] == "model.registered" and row["subject"] == version.id
        )
        assert _EVENT.first(conn, {"seq": 999}) is None
        assert events_store.head(conn).seq == 1
        assert Prepared(select(events.c.kind).order_by(events.c.seq)).scalar(conn) == (
            "model.registered"
        )


def test_a_duplicate_key_is_a_conflict_and_rolls_the_transaction_back(ledger, project):
    _register(ledger, project)
    with ledger.db.read() as conn:
        first = _EVENT.first(conn, {"seq": 1})
    with pytest.raises(Conflict, match="refused the write"), ledger.db.write() as conn:
        _INSERT_EVENT.run(conn, {**first, "kind": "model.other"})
    with ledger.db.read() as conn:
        assert [e.kind for e in events_store.iter_all(conn)] == ["model.registered"]


def test_a_trigger_refusal_is_an_immutable_record(ledger, project):
    version = _register(ledger, project)
    with pytest.raises(ImmutableRecord), ledger.db.write() as conn:
        _RENAME.run(conn, {"vid": version.id})


def test_a_column_that_needs_type_processing_is_refused_when_compiled(ledger):
    """Only plain columns: a value SQLAlchemy would convert is not passed on unconverted."""
    pickled = Table("pickled", MetaData(), Column("value", PickleType))
    with ledger.db.read() as conn, pytest.raises(TypeError, match="type processing"):
        Prepared(insert(pickled)).run(conn, {"value": None})
    with ledger.db.read() as conn, pytest.raises(TypeError, match="type processing"):
        Prepared(select(pickled.c.value)).first(conn)
