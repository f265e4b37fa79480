"""The other half of the docs, run as written (see ``test_tutorials.py`` for the convention):
a file of its own so that xdist gives it to the other worker."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.docs.conftest import HALVES, SLOW_DOCS, check_doc
from tests.docs.runner import Outcome


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in HALVES[1]] + SLOW_DOCS)
def test_the_doc_runs_as_written(path: Path, doc_runs: dict[Path, Future[Outcome]]) -> None:
    check_doc(path, doc_runs)
