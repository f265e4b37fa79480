"""The docs' runs, shared by the two files that test them (``test_tutorials.py`` and
``test_tutorials_more.py``, about half the work each, so that xdist's workers share it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.docs.runner import (
    ROOT,
    DocFormatError,
    Outcome,
    check,
    kill_running,
    parse,
    report,
    run_in_temp,
)

DOCS = [ROOT / "docs" / "quickstart.md", *sorted((ROOT / "docs" / "tutorials").glob("*.md"))]
TIMEOUT = 150.0  # seconds for one doc, from its first block to its last
TOOLS = ("bash", "git", "jq", "curl", "sha256sum", "sed")  # what the docs' commands use


def _halves(docs: list[Path]) -> tuple[list[Path], list[Path]]:
    """Two lists of about the same size in bytes (a doc's size stands for its work)."""
    halves: tuple[list[Path], list[Path]] = ([], [])
    sizes = [0, 0]
    for path in sorted(docs, key=lambda p: (-p.stat().st_size, p.name)):
        i = sizes.index(min(sizes))
        halves[i].append(path)
        sizes[i] += path.stat().st_size
    return sorted(halves[0]), sorted(halves[1])


# The longest tutorials run in `make bench` (``-m slow``), keeping `make test` in its ten minutes:
# the A/B test and shadow (a server under load), the composite RAG system, the lean gate.
SLOW = {"s10-ab-test-and-shadow.md", "s11-composite-rag-system.md", "s04-lean-promotion-gate.md"}
HALVES = _halves([p for p in DOCS if p.name not in SLOW])
SLOW_DOCS = [pytest.param(p, marks=pytest.mark.slow, id=p.stem) for p in DOCS if p.name in SLOW]


@pytest.fixture(scope="module")
def doc_runs(request: pytest.FixtureRequest) -> Iterator[dict[Path, Future[Outcome]]]:
    """Every doc this module selected, started at once on a small pool, the biggest first."""
    selected = [
        item.callspec.params["path"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_the_doc_runs_as_written"
        and hasattr(item, "callspec")
        and item.path == request.path
    ]
    # under xdist the other worker has the other core: two docs at once would take it from it
    alone = "PYTEST_XDIST_WORKER" not in os.environ
    default = min(2, os.cpu_count() or 1) if alone else 1
    workers = int(os.environ.get("MLEDGER_DOCS_WORKERS") or default)
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="doc")
    runs: dict[Path, Future[Outcome]] = {}
    for path in sorted(selected, key=lambda p: p.stat().st_size, reverse=True):
        try:
            doc = parse(path.read_text(), path.relative_to(ROOT))
        except DocFormatError:
            continue  # its test says so
        runs[path] = pool.submit(run_in_temp, doc, TIMEOUT)
    try:
        yield runs
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        kill_running()  # nothing, unless the session was interrupted
        pool.shutdown(wait=True)


def check_doc(path: Path, doc_runs: dict[Path, Future[Outcome]]) -> None:
    missing = [t for t in TOOLS if shutil.which(t, path="/usr/local/bin:/usr/bin:/bin") is None]
    assert not missing, f"the docs run {', '.join(missing)}: install them"
    doc = parse(path.read_text(), path.relative_to(ROOT))
    assert doc.shell, f"{path}: no ```sh block to run"
    outcome = doc_runs[path].result(timeout=len(doc_runs) * (TIMEOUT + 30))
    problems = check(doc, outcome)
    assert not problems, report(doc, problems)
