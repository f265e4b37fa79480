"""The quickstart and every tutorial run top to bottom as written, in an empty folder.

The convention (the same in docs/quickstart.md and every docs/tutorials/*.md):

- A block fenced ```sh runs. All of a doc's ``sh`` blocks run in document order in one bash
  process (``set -euo pipefail``), in an empty folder, so a variable or ``cd`` carries over.
- A block fenced ```text right after a ``sh`` block (nothing but blank lines between the two) is
  what that block prints, stdout and stderr together, in the order they were written. A ``sh``
  block with no ``text`` block after it must print nothing.
- In a ``text`` block, ``…`` stands for any run of characters within a line (an id that depends
  on a git commit, a time, a duration, a temp path), and a line holding just ``…`` stands for
  any number of lines, none included. A run of spaces matches any run of spaces (so a table
  keeps its columns aligned around a ``…``), and trailing spaces are ignored.
- ```sh no-run marks a block that is shown but not run (``make demo``, an activate line): the
  doc says why. Its output, if shown, is fenced ```text too and is not compared; so is a
  ```console block, a transcript the doc quotes from elsewhere (the demo's own output).
- Every other fence carries a language (``python``, ``yaml``, …) and is not run; a fence with
  no language at all is refused, so an output block cannot go unchecked by a missing tag.
- A command the doc expects to fail is written ``cmd || echo "exit $?"``, so its exit status is
  part of the output shown. Files the reader needs are written by the doc (``cat > f <<'EOF'``),
  ids are captured from ``--json`` (never pasted), and a server started by a doc listens on a
  free port (``--port 0``), is waited for in bounded loops and is stopped by the doc.
- The environment is the reader's, made clean: the venv first on PATH, a fresh HOME, no
  ``MLEDGER_*`` variable (a doc that wants a user sets ``MLEDGER_USER`` itself), no COLUMNS (so
  tables are laid out as for a pipe, 120 columns), and ``OMP_NUM_THREADS=1``.

A doc's failure names the doc, the line of the block, the command, what the doc shows, what was
printed, and the first line where they part. ``python -m tests.docs.runner --update DOC.md``
rewrites the output blocks that no longer match (then mark what varies with ``…`` by hand).

The docs are slow (each one is dozens of commands), so they are split over two files of about
the same work (this one and ``test_tutorials_more.py``), which xdist gives to both workers; a
file's selected docs start together at its first doc test, ``MLEDGER_DOCS_WORKERS`` at a time
(default: one per CPU, at most 2; one under xdist), and each test waits for its own; every run
is bounded and kills whatever it left running (``conftest.py``).
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.docs.conftest import HALVES, check_doc
from tests.docs.runner import (
    DocFormatError,
    Outcome,
    check,
    first_mismatch,
    matches,
    parse,
    report,
    run,
)


@pytest.mark.parametrize("path", HALVES[0], ids=lambda p: p.stem)
def test_the_doc_runs_as_written(path: Path, doc_runs: dict[Path, Future[Outcome]]) -> None:
    check_doc(path, doc_runs)


# The matcher and the parser, directly.


def test_a_line_matches_itself_and_trailing_spaces_do_not_count() -> None:
    assert matches(["registered delay@1"], ["registered delay@1   "])
    assert not matches(["registered delay@1"], ["registered delay@2"])
    assert not matches(["a"], ["a", "b"]) and not matches(["a", "b"], ["a"])
    assert matches([], []) and not matches([], ["x"])


def test_an_ellipsis_in_a_line_is_any_run_of_characters() -> None:
    assert matches(["registered delay@1  mv-…"], ["registered delay@1  mv-0123abcd"])
    assert matches(["took … s (… rows)"], ["took 0.25 s (12 rows)"])
    assert matches(["mv-…"], ["mv-"])  # the run may be empty
    assert not matches(["mv-…"], ["ds-0123"])  # the literal parts still count
    assert not matches(["… s"], ["0.25 ms!"])  # and the end of the line
    assert matches(["a.b*c…"], ["a.b*c(d)"])  # regex characters are literal


def test_a_run_of_spaces_matches_any_run_of_spaces() -> None:
    assert matches([" │ ev-…           │ pass"], [" │ ev-e7c708655f64 │ pass  "])
    assert not matches(["a b"], ["ab"])


def test_a_line_of_just_an_ellipsis_is_any_number_of_lines() -> None:
    assert matches(["first", "…", "last"], ["first", "last"])
    assert matches(["first", "…", "last"], ["first", "x", "y", "last"])
    assert matches(["…"], []) and matches(["…"], ["a", "b"])
    assert matches(["…", "b", "…"], ["a", "b", "c"])
    assert not matches(["first", "…", "last"], ["first", "x"])
    assert matches(["a", "…", "a"], ["a", "a", "a"])  # backtracks over repeated lines


def test_the_first_mismatch_is_where_the_expected_lines_stop_fitting() -> None:
    assert first_mismatch(["a", "…", "c"], ["a", "b", "c"]) is None
    assert first_mismatch(["a", "b", "c"], ["a", "x", "c"]) == (1, 1)
    assert first_mismatch(["a", "…", "z"], ["a", "b", "c"]) == (2, 3)  # "z" never came
    assert first_mismatch(["a"], ["a", "extra"]) == (1, 1)  # ran out of expected lines


def test_blocks_pair_up_and_untagged_or_orphan_fences_are_refused() -> None:
    doc = parse("x\n```sh\necho hi\n```\n\n```text\nhi\n```\nprose\n```sh\ntrue\n```\n")
    first, second = doc.shell
    assert first.line == 2 and first.body == "echo hi\n"
    assert first.expected is not None and first.expected.body == "hi\n"
    assert second.expected is None
    with pytest.raises(DocFormatError, match="without a language"):
        parse("```\nhi\n```\n")
    with pytest.raises(DocFormatError, match="must follow a ```sh block"):
        parse("```sh\necho hi\n```\nprose between\n```text\nhi\n```\n")
    with pytest.raises(DocFormatError, match="never closed"):
        parse("```sh\necho hi\n")
    no_run = parse("```sh no-run\nmake demo\n```\n```text\nanything\n```\n")
    assert not no_run.shell and no_run.blocks[0].expected is not None


def test_a_block_that_fails_or_prints_what_the_doc_does_not_show_is_reported(
    tmp_path: Path,
) -> None:
    doc = parse(
        "```sh\nX=1\n```\n"
        "```sh\necho $X; echo oops >&2\n```\n```text\n1\n```\n"
        "```sh\necho same\n```\n```text\nsame\n```\n"
        "```sh\nfalse\n```\n```sh\necho never\n```\n",
        Path("demo.md"),
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    problems = check(doc, run(doc, workdir))
    text = report(doc, problems)
    assert [p.block.line for p in problems] == [4, 16], text
    assert "demo.md:4: the output differs" in text and "+oops" in text
    assert "demo.md:16: the block did not finish: bash exited 1" in text
    assert "never" not in text.replace("echo never", "")
