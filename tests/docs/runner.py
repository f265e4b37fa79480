"""Run a markdown doc's shell blocks top to bottom and compare what they print with the doc:
the parser, the matcher and the runner behind ``tests/docs/test_tutorials.py``, whose docstring
states the convention the docs follow.

``python -m tests.docs.runner DOC.md …`` checks docs; ``python -m tests.docs.runner --update
DOC.md`` runs a doc and rewrites each ``text`` block that no longer matches with what was
printed (then put the ``…`` placeholders back by hand where the output varies).
"""

from __future__ import annotations

import difflib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
ANY = "…"
SENTINEL = "@@mledger-docs-block-done@@"
FENCE = re.compile(r"^```(.*)$")
SPACES = re.compile(r" +")
RUNNING: set[int] = set()  # process groups of the docs running now (see kill_running)


class DocFormatError(ValueError):
    """The doc breaks the convention above (an untagged fence, an orphan output block, …)."""


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    info: str  # the fence's info string: "sh", "sh no-run", "text", "python", …
    body: str
    expected: Block | None = None  # the text block right after a sh block

    @property
    def runs(self) -> bool:
        return self.info == "sh"


@dataclass
class Doc:
    path: Path
    blocks: list[Block] = field(default_factory=list)

    @property
    def shell(self) -> list[Block]:
        return [b for b in self.blocks if b.runs]


def parse(text: str, path: Path = Path("<doc>")) -> Doc:
    """The fenced blocks of ``text``, each ``sh`` block paired with the ``text`` block after it."""
    doc = Doc(path)
    lines = text.splitlines()
    i = 0
    previous: Block | None = None
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            if lines[i].strip():
                previous = None  # prose between two blocks: they are not a pair
            i += 1
            continue
        info = opening.group(1).strip()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise DocFormatError(f"{path}:{start + 1}: the fence is never closed")
        i += 1
        if not info:
            raise DocFormatError(
                f"{path}:{start + 1}: a fence without a language: tag it ```text (output), "
                "```sh (a command) or the language it shows"
            )
        block = Block(start + 1, info, "\n".join(body) + "\n" if body else "")
        if info == "text":
            if previous is not None and previous.info.startswith("sh"):
                previous.expected = block
            else:
                raise DocFormatError(
                    f"{path}:{start + 1}: a ```text block must follow a ```sh block with only "
                    "blank lines between them"
                )
        elif info not in ("sh", "sh no-run") and info.split()[0] == "sh":
            raise DocFormatError(f"{path}:{start + 1}: unknown sh marker {info!r}")
        doc.blocks.append(block)
        previous = block
    return doc


def _pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in line.split(ANY)), re.DOTALL)


def _plain(line: str) -> str:
    return SPACES.sub(" ", line.rstrip())


def _reach(expected: list[str], actual: list[str]) -> list[list[bool]]:
    """``reach[i][j]``: the first ``i`` expected lines can stand for the first ``j`` actual ones."""
    act = [_plain(line) for line in actual]
    reach = [[True] + [False] * len(act)]
    for line in expected:
        before, now = reach[-1], [False] * (len(act) + 1)
        if _plain(line).strip() == ANY:
            for j in range(len(act) + 1):
                now[j] = before[j] or (j > 0 and now[j - 1])
        else:
            pat = _pattern(_plain(line))
            for j in range(1, len(act) + 1):
                now[j] = before[j - 1] and bool(pat.fullmatch(act[j - 1]))
        reach.append(now)
    return reach


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` lines fit ``expected``: ``…`` in a line is any run of characters, a
    line of just ``…`` any number of lines; a run of spaces is one space, trailing ones none."""
    return _reach(expected, actual)[-1][len(actual)]


def first_mismatch(expected: list[str], actual: list[str]) -> tuple[int, int] | None:
    """Where matching first fails, as (expected line, actual line), 0-based: the furthest the
    expected lines get, and the furthest actual line they reach there (a length: ran out). None
    when ``actual`` matches."""
    reach = _reach(expected, actual)
    if reach[-1][len(actual)]:
        return None
    for i in range(len(expected), -1, -1):
        ends = [j for j, ok in enumerate(reach[i]) if ok]
        if ends:
            return i, max(ends)
    return 0, 0  # not reached: reach[0][0] is always True


@dataclass
class Outcome:
    """What running a doc's shell blocks gave: each block's output, and how bash ended."""

    outputs: list[str]  # one per sh block that finished; the unfinished one's output comes last
    returncode: int | None  # None when the run timed out
    seconds: float


def environment(workdir: Path, home: Path) -> dict[str, str]:
    """A clean environment: the venv first on PATH and this checkout's ``src`` on PYTHONPATH (a
    venv shared by several checkouts installs one of them; the docs run this one's code), a
    throw-away HOME, no MLEDGER_* setting, no COLUMNS (output is laid out as for a pipe, 120
    columns). One OpenMP thread: the docs run two at a time on a 2-core machine, and OpenMP
    teams spinning against each other made one scikit-learn fit take ten times as long; the
    output is the same either way."""
    env = {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "TMPDIR": str(workdir.parent),
        "PYTHONUNBUFFERED": "1",  # as in a terminal: a command's stdout and stderr stay in order
        "GIT_CONFIG_NOSYSTEM": "1",
        "OMP_NUM_THREADS": "1",
        "VIRTUAL_ENV": str(VENV_BIN.parent),
        "PYTHONPATH": str(ROOT / "src"),  # this checkout's code, whichever one the venv installs
    }
    return env


def script(doc: Doc) -> str:
    parts = ["set -euo pipefail\n"]
    for block in doc.shell:
        parts.append(block.body)
        parts.append(f"printf '\\n{SENTINEL}\\n'\n")
    return "".join(parts)


def run(doc: Doc, workdir: Path, timeout: float = 150.0) -> Outcome:
    """Run ``doc``'s ``sh`` blocks in ``workdir`` (empty) in one bash process of its own session;
    whatever it leaves running (a server the doc failed to stop) is killed afterwards."""
    home = workdir.parent / "home"
    home.mkdir(exist_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        ["bash", "-c", script(doc)],
        cwd=workdir,
        env=environment(workdir, home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    RUNNING.add(proc.pid)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, _ = proc.communicate(timeout=10)
        code = None
    finally:
        _kill_group(proc.pid)
        RUNNING.discard(proc.pid)
    text = out.decode("utf-8", errors="replace")
    pieces = text.split(f"\n{SENTINEL}\n")
    return Outcome(pieces, code, time.monotonic() - started)


def kill_running() -> None:
    """Stop every doc still running, with whatever it started (an interrupted test session)."""
    for pgid in list(RUNNING):
        _kill_group(pgid)


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def lines_of(output: str) -> list[str]:
    return output.splitlines()


@dataclass
class Problem:
    block: Block
    message: str


def check(doc: Doc, outcome: Outcome) -> list[Problem]:
    """Every way the run disagrees with the doc, the first failure of bash included."""
    problems = []
    shell = doc.shell
    for n, block in enumerate(shell):
        if n >= len(outcome.outputs):
            break
        actual = outcome.outputs[n]
        finished = n < len(outcome.outputs) - 1
        if not finished:
            how = "timed out" if outcome.returncode is None else f"exited {outcome.returncode}"
            problems.append(
                Problem(block, f"the block did not finish: bash {how}\n" + _show(block, actual))
            )
            break
        expected = block.expected.body if block.expected else ""
        if not matches(lines_of(expected), lines_of(actual)):
            problems.append(
                Problem(block, "the output differs from the doc\n" + _show(block, actual))
            )
    else:
        if outcome.returncode != 0 and shell:
            problems.append(
                Problem(shell[-1], f"every block ran, then bash exited {outcome.returncode}")
            )
    return problems


def _show(block: Block, actual: str) -> str:
    expected = block.expected.body if block.expected else ""
    where = (
        f"(text block at line {block.expected.line})"
        if block.expected
        else "(no text block: nothing)"
    )
    diff = "\n".join(
        difflib.unified_diff(
            [line.rstrip() for line in lines_of(expected)],
            [line.rstrip() for line in lines_of(actual)],
            "expected",
            "actual",
            lineterm="",
            n=2,
        )
    )
    exp_lines, act_lines = lines_of(expected), lines_of(actual)
    first = ""
    at = first_mismatch(exp_lines, act_lines)
    if at is not None:
        i, j = at
        shown_e = repr(exp_lines[i]) if i < len(exp_lines) else "(no more lines)"
        shown_a = repr(act_lines[j]) if j < len(act_lines) else "(no more lines)"
        first = f"--- first difference: expected line {i + 1} {shown_e}, actual line {j + 1} {shown_a}\n"
    return (
        f"--- command (sh block at line {block.line})\n{block.body}"
        f"--- expected {where}\n{expected}"
        f"--- actual\n{actual}{'' if actual.endswith(chr(10)) or not actual else chr(10)}"
        f"{first}--- diff (lines matched through `…` show as changed too)\n{diff}\n"
    )


def report(doc: Doc, problems: list[Problem]) -> str:
    return "\n".join(f"{doc.path}:{p.block.line}: {p.message}" for p in problems)


def run_in_temp(doc: Doc, timeout: float = 150.0) -> Outcome:
    """``run`` in a fresh folder ``/tmp/mledger-docs-XXXXXXXX/work``, removed afterwards. The
    path is short and always as long, so output that shows it wraps the same way every run."""
    with tempfile.TemporaryDirectory(prefix="mledger-docs-", dir="/tmp") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        return run(doc, workdir, timeout)


def run_doc(path: Path, timeout: float = 150.0) -> tuple[Doc, Outcome]:
    doc = parse(path.read_text(), path)
    return doc, run_in_temp(doc, timeout)


def update(path: Path) -> int:
    """Rewrite the text blocks of ``path`` that the run no longer matches; the count rewritten."""
    doc, outcome = run_doc(path)
    lines = path.read_text().splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []  # (first body line index, end index, new body)
    for n, block in enumerate(doc.shell):
        if n >= len(outcome.outputs) - 1:
            print(
                f"{path}:{block.line}: did not finish (exit {outcome.returncode}):\n{outcome.outputs[-1]}"
            )
            break
        actual = outcome.outputs[n]
        expected = block.expected.body if block.expected else ""
        if matches(lines_of(expected), lines_of(actual)):
            continue
        body = "".join(line.rstrip() + "\n" for line in lines_of(actual))
        if block.expected:
            start = block.expected.line  # index of the first body line
            end = start + len(lines_of(expected))
            edits.append((start, end, body))
        else:
            end_fence = block.line + len(lines_of(block.body))  # index of the closing fence
            edits.append((end_fence + 1, end_fence + 1, f"\n```text\n{body}```\n"))
    for start, end, body in sorted(edits, reverse=True):
        lines[start:end] = [body]
    path.write_text("".join(lines))
    print(f"{path}: {len(edits)} block(s) rewritten in {outcome.seconds:.1f} s")
    return len(edits)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--update":
        for name in args[1:]:
            update(Path(name))
    else:
        failed = 0
        for name in args:
            doc, outcome = run_doc(Path(name))
            problems = check(doc, outcome)
            print(report(doc, problems) or f"{name}: ok in {outcome.seconds:.1f} s")
            failed += bool(problems)
        sys.exit(1 if failed else 0)
