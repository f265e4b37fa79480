"""Fixtures for the tamper and proof suites: a ledger with every kind of record, built once per
module and backend, and a fresh copy of it for each test to damage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_pg
from tests.ledger.tamper_kit import Built, Copy, build, copy_of, drop_database


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    if request.param == "postgres":
        require_pg()
    found = build(tmp_path_factory.mktemp(f"built-{request.param}"), request.param)
    yield found
    if found.database:
        drop_database(found.database)


@pytest.fixture
def ledger_copy(built: Built, tmp_path: Path) -> Iterator[Copy]:
    found = copy_of(built, tmp_path)
    yield found
    if found.database:
        drop_database(found.database)
