"""A/B of one benchmark between an older commit and the working tree, in one run: the rounds
alternate (old, new, old, new …) so that a slow phase of the machine falls on both sides.

    python benchmarks/ab.py bench_register.py --old 3d89c00 --rounds 5

The old commit is checked out into a temporary git worktree and its own copy of the benchmark
runs against its own sources (PYTHONPATH), with this virtualenv's packages; ``--this-bench``
runs the working tree's copy on both sides instead (when the old copy no longer runs). Every figure a run
prints (``NAME: 1.23 ms`` or ``NAME … 104 ms``) is collected; the medians of each side and
their ratio are printed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r"^(?P<name>[^\[\n]*?)[:\s]\s*(?P<value>\d+(?:\.\d+)?) ms\b", re.M)


def run_once(tree: Path, script: Path, args: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{script.parent}"}
    bench = script.name
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    found: dict[str, float] = {}
    for m in FIGURE.finditer(done.stdout):
        name = " ".join(m.group("name").split())[:70]
        found.setdefault(name, float(m.group("value")))  # the first figure of a line
    if not found:
        raise SystemExit(f"{bench} printed no figures in {tree}:\n{done.stdout}\n{done.stderr}")
    if done.returncode != 0:  # a missed target: its figures still count
        print(f"  ({tree.name}: {bench} exited {done.returncode})", file=sys.stderr)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", help="a script in benchmarks/, e.g. bench_register.py")
    parser.add_argument("--old", required=True, help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--this-bench", action="store_true", help="run the working tree's benchmark on both sides"
    )
    parser.add_argument("args", nargs="*", help="passed to the benchmark (after --)")
    opts = parser.parse_args()
    sides: dict[str, dict[str, list[float]]] = {"old": defaultdict(list), "new": defaultdict(list)}
    with tempfile.TemporaryDirectory(prefix="mledger-ab-") as tmp:
        old_tree = Path(tmp) / "old"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(old_tree), opts.old],
            cwd=ROOT,
            check=True,
        )
        try:
            for i in range(opts.rounds):
                for side, tree in (("old", old_tree), ("new", ROOT)):
                    script = (ROOT if opts.this_bench else tree) / "benchmarks" / opts.bench
                    for name, value in run_once(tree, script, opts.args).items():
                        sides[side][name].append(value)
                print(f"round {i + 1}/{opts.rounds} done", file=sys.stderr)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT, check=False
            )
    print(f"{opts.bench}: {opts.old} (old) against the working tree (new), {opts.rounds} rounds")
    for name in sides["old"]:
        old, new = sides["old"][name], sides["new"].get(name, [])
        if not new:
            continue
        mo, mn = statistics.median(old), statistics.median(new)
        print(
            f"  {name}\n    old {mo:.2f} ms  new {mn:.2f} ms  new/old {mn / mo:.3f}"
            f"  (old runs {', '.join(f'{v:.2f}' for v in old)}; new {', '.join(f'{v:.2f}' for v in new)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
