"""`mledger model search` latency (issue: model search).

Target: a search over 100,000 versions answers in ≤ 100 ms in-process on SQLite (the embedded
default), for every query of a realistic set: warm, the ledger open, median of 15 calls each.
The ledger gets a handful of versions registered, scored and tagged through the public API, so
that every row has the product's own shape, and the rest bulk-inserted with those rows as
templates (tuples and ids computed as registration computes them, index rows by
``core.search_index``); the setup time is printed apart and is not the figure. SQLite's
statistics are left as a user's ledger has them (mledger does not run ANALYZE); what running
ANALYZE would change is printed on a line of its own.

MLflow's equivalent (``search_runs`` with a filter string, max_results 50, on a SQLite tracking
store holding as many runs as its API creates in two minutes) is timed in the same run and
compared with mledger at the same size: in this process when mlflow is importable here, else
from its own virtualenv (``make bench-peers``: .peers/mlflow, or $MLEDGER_BENCH_MLFLOW). The
ratio is printed beside the absolute target, not instead of it.

    python benchmarks/bench_search.py [--n 100000] [--mlflow-seconds 120] [--explain]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import peer_mlflow_search as pop
from peers import mlflow_command
from sqlalchemy import event, func, select

from modelledger import client as ml
from modelledger.core.canonical import canonical_json, canonical_value
from modelledger.core.clock import format_time
from modelledger.core.ids import MODEL_VERSION, make_id
from modelledger.core.search_index import metric_rows, version_param_rows
from modelledger.evals.results import result_id
from modelledger.ledger.home import Ledger
from modelledger.ledger.schema import (
    eval_metrics,
    eval_results,
    model_versions,
    version_data,
    version_params,
)

TARGET_MS = 100.0
REAL = 5  # versions registered, scored and tagged through the public API
CHUNK = 5_000  # bulk-inserted versions per transaction
EVAL_SETS = ("holdout", "shifted")


# --- the ledger --------------------------------------------------------------------------------


class Built:
    """A ledger holding ``n`` versions of ``pop.population(n)`` and how long it took."""

    def __init__(self, home: Path, n: int) -> None:
        t0 = time.perf_counter()
        self.n = n
        self.ledger = ml.init(home)
        self.snapshots = {}
        for k, name in enumerate(pop.SNAPSHOTS):
            folder = home / "data" / name
            folder.mkdir(parents=True)
            (folder / "train.csv").write_text(f"x,y\n{k},1\n{k + 10},0\n")
            self.snapshots[name] = ml.snapshot(folder, name, ledger=self.ledger).id
        self.sets = {}
        for name in EVAL_SETS:
            folder = home / "eval" / name
            folder.mkdir(parents=True)
            (folder / "eval.csv").write_text(f"x,y\n{name},1\n")
            self.sets[name] = ml.create_eval_set(name, folder, ledger=self.ledger)
        specs = pop.population(n)
        real = [next(specs) for _ in range(min(REAL, n))]
        ids = [self._register(home, spec) for spec in real]
        self._check_templates(real, ids)
        self.candidates: list[int] = []  # bulk versions to tag stage=candidate
        ids += self._bulk(specs, n - len(real))
        production = pop.production(n)
        tags = [(i, "production") for i in production]
        tags += [(i, "candidate") for i in self.candidates if i not in production]
        for i, stage in tags:  # each through the API: an event and its version_tags row
            ml.set_tags(ids[i], {"stage": stage}, ledger=self.ledger)
        self.tagged = len(tags) + sum(1 for s in real if s.stage and s.index not in production)
        self.seconds = time.perf_counter() - t0

    def _register(self, home: Path, spec: pop.Spec) -> str:
        artifact = home / f"{spec.name}-{spec.index}.bin"
        artifact.write_bytes(f"weights {spec.index}\n".encode())
        version = ml.register_model(
            spec.name,
            artifact,
            params=spec.params,
            data=[self.snapshots[spec.data]],
            code_ref="x@1",
            ledger=self.ledger,
        )
        for on, scores in zip(EVAL_SETS, (spec.holdout, spec.shifted), strict=True):
            if scores:
                ml.record_eval(version.id, self.sets[on], scores, ledger=self.ledger)
        if spec.stage:
            ml.set_tags(version.id, {"stage": spec.stage}, ledger=self.ledger)
        return version.id

    def _check_templates(self, real: list[pop.Spec], ids: list[str]) -> None:
        """Take the first real version's row as the template, and check that the rows built
        from it for the real specs are what registration and record_eval wrote."""
        with self.ledger.db.read() as conn:
            rows = {r.id: r for r in conn.execute(select(model_versions))}
            stored_params = {
                (r.version_id, r.key, r.num, r.text) for r in conn.execute(select(version_params))
            }
            stored_results = set(conn.execute(select(eval_results.c.id)).scalars())
            self.numbers = dict(
                conn.execute(
                    select(model_versions.c.name, func.max(model_versions.c.number)).group_by(
                        model_versions.c.name
                    )
                ).all()
            )
        template = rows[ids[0]]
        self.tuple = json.loads(template.tuple_json)
        self.manifest = json.loads(template.manifest_json)
        for spec, vid in zip(real, ids, strict=True):
            row = rows[vid]
            built = self._version(spec, json.loads(row.tuple_json)["artifact"])
            assert built["id"] == vid and built["tuple_json"] == row.tuple_json, spec
            params = {tuple(p.values()) for p in version_param_rows(vid, built["params"])}
            assert params == {p for p in stored_params if p[0] == vid}, spec
            for result, _ in self._results(spec, vid, row.created_at, row.registered_by):
                assert result["id"] in stored_results, spec

    def _version(self, spec: pop.Spec, artifact: dict[str, Any]) -> dict[str, Any]:
        """The id and tuple of ``spec``, and the params as registration indexes them."""
        tup = {
            **self.tuple,
            "name": spec.name,
            "artifact": artifact,
            "params": canonical_value(spec.params),
            "data": [{"id": self.snapshots[spec.data], "role": "train"}],
        }
        identity = {**tup, "artifact": {k: v for k, v in artifact.items() if k != "size"}}
        return {
            "id": make_id(MODEL_VERSION, identity),
            "tuple_json": _text(tup),
            "params": tup["params"],
        }

    def _results(
        self, spec: pop.Spec, vid: str, at: str, user: str
    ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        for on, scores in zip(EVAL_SETS, (spec.holdout, spec.shifted), strict=True):
            if not scores:
                continue
            rid = result_id(vid, self.sets[on], scores, {}, None)
            row = {
                "id": rid,
                "subject_id": vid,
                "eval_set_id": self.sets[on],
                "metrics_json": _text(scores),
                "slices_json": "{}",
                "report_sha256": None,
                "created_at": at,
                "created_by": user,
            }
            yield row, metric_rows(rid, vid, self.sets[on], scores)

    def _bulk(self, specs: Iterator[pop.Spec], count: int) -> list[str]:
        """Insert ``count`` versions, CHUNK per transaction; their ids in order."""
        ids: list[str] = []
        while len(ids) < count:
            chunk = [next(specs) for _ in range(min(CHUNK, count - len(ids)))]
            versions, params, data, results, metrics = [], [], [], [], []
            for spec in chunk:
                self.numbers[spec.name] = number = self.numbers.get(spec.name, 0) + 1
                digest = hashlib.sha256(f"weights {spec.index}".encode()).hexdigest()
                built = self._version(spec, {"kind": "blob", "sha256": digest, "size": 1 << 20})
                vid, canonical = built["id"], built.pop("params")
                at = format_time(spec.at)
                manifest = {
                    **self.manifest,
                    "registered_at": at,
                    "artifact_source": f"/models/{spec.name}-{number}.bin",
                }
                versions.append(
                    {
                        **built,
                        "name": spec.name,
                        "number": number,
                        "artifact_sha256": digest,
                        "parent_id": None,
                        "created_at": at,
                        "registered_by": spec.user,
                        "loader": None,
                        "irreproducible_reason": None,
                        "manifest_json": _text(manifest),
                    }
                )
                params += version_param_rows(vid, canonical)
                data.append(
                    {"version_id": vid, "snapshot_id": self.snapshots[spec.data], "role": "train"}
                )
                for result, rows in self._results(spec, vid, at, spec.user):
                    results.append(result)
                    metrics += rows
                ids.append(vid)
                if spec.stage:
                    self.candidates.append(spec.index)
            with self.ledger.db.write(bulk=True) as conn:
                conn.execute(model_versions.insert(), versions)
                conn.execute(version_params.insert(), params)
                conn.execute(version_data.insert(), data)
                if results:
                    conn.execute(eval_results.insert(), results)
                    conn.execute(eval_metrics.insert(), metrics)
        return ids


def _text(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


# --- the queries -------------------------------------------------------------------------------


def queries(n: int) -> list[tuple[str, dict[str, Any]]]:
    """(label, search_versions arguments); labels as peer_mlflow_search.py names them."""
    lr = f"lr={pop.LR_LOW}..{pop.LR_HIGH}"
    auc = f"auc>={pop.AUC_MIN}"
    return [
        ("no filter", {}),
        ("name", {"name": pop.NAME}),
        ("name + param =", {"name": pop.NAME, "params": ["lr=0.01"]}),
        ("param range (40%)", {"params": [lr]}),
        ("metric >= (10%)", {"metrics": [auc], "eval_set": "holdout"}),
        (
            "name + range + metric",
            {"name": pop.NAME, "params": [lr], "metrics": [auc], "eval_set": "holdout"},
        ),
        ("tag (10 match)", {"tags": ["stage=production"]}),
        ("registrant + since", {"registered_by": pop.USER, "since": format_time(pop.since(n))}),
        ("data snapshot (5%)", {"data": [pop.DATA]}),
        ("param, no match", {"params": ["opt=lion"]}),
        # three broad filters, few in common: the newest-first scan reads far before the limit
        (
            "metric + data + param",
            {"metrics": [auc], "eval_set": "holdout", "data": [pop.DATA], "params": ["opt=sgd"]},
        ),
    ]


def timed(call: Callable[[], list[Any]], repeat: int) -> tuple[float, float, int]:
    """Two warm-up calls, then ``repeat`` timed ones: (median ms, max ms, results returned)."""
    for _ in range(2):
        call()
    each, found = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        found = len(call())
        each.append((time.perf_counter() - t) * 1000)
    return statistics.median(each), max(each), found


def measure(ledger: Ledger, n: int, repeat: int) -> dict[str, tuple[float, float, int]]:
    out = {}
    for label, kwargs in queries(n):

        def call(kwargs: dict[str, Any] = kwargs) -> list[Any]:
            return ml.search_versions(**kwargs, ledger=ledger)

        out[label] = timed(call, repeat)
    return out


def explain(ledger: Ledger, kwargs: dict[str, Any]) -> tuple[str, list[str], int]:
    """The statement that orders and limits the matches (caught on its way to the driver),
    SQLite's plan for it and how many versions match in all (untimed)."""
    seen: list[tuple[str, Any]] = []

    def grab(*args: Any) -> None:
        seen.append((args[2], args[3]))  # (conn, cursor, statement, parameters, …)

    engine = ledger.db.engine
    event.listen(engine, "before_cursor_execute", grab)
    try:
        ml.search_versions(**kwargs, ledger=ledger)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    sql, params = next(s for s in seen if "ORDER BY" in s[0])
    with ledger.db.read() as conn:
        driver = conn.connection.driver_connection
        plan = [row[3] for row in driver.execute("EXPLAIN QUERY PLAN " + sql, params)]
    total = len(ml.search_versions(**{**kwargs, "limit": 10**7}, ledger=ledger))
    shown = sql
    for value in params:
        shown = shown.replace("?", repr(value), 1)
    return " ".join(shown.split()), plan, total


def analyze(ledger: Ledger) -> None:
    with ledger.db.write() as conn:
        conn.exec_driver_sql("ANALYZE")


# --- MLflow ------------------------------------------------------------------------------------


def bench_mlflow(tmp: Path, n_max: int, seconds: float, repeat: int) -> dict[str, Any] | str:
    """MLflow's runs, version and timings per query, in the same run; or why it was skipped."""
    command, how = mlflow_command("peer_mlflow_search.py")
    if command is None:
        return how
    work = tmp / "mlflow"
    work.mkdir()
    args = ["--max", str(n_max), "--seconds", str(seconds), "--repeat", str(repeat)]
    done = subprocess.run(
        [*command, str(work), *args], capture_output=True, text=True, check=False, cwd=work
    )
    if done.returncode != 0:
        return f"failed ({how}):\n{done.stderr.strip()}"
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    found["how"] = how
    return found


# --- output ------------------------------------------------------------------------------------


def report(n: int, timings: dict[str, tuple[float, float, int]], totals: dict[str, int]) -> None:
    print(f"  {'query':<24} {'returned':>8} {'in all':>8} {'median ms':>10} {'max ms':>8}")
    for label, (median, most, found) in timings.items():
        total = f"{totals[label]:,}" if label in totals else "-"
        flag = "  over target" if median > TARGET_MS else ""
        print(f"  {label:<24} {found:>8} {total:>8} {median:>10.2f} {most:>8.2f}{flag}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="versions in the ledger")
    parser.add_argument(
        "--mlflow-seconds", type=float, default=120.0, help="time MLflow gets to create runs"
    )
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per query")
    parser.add_argument(
        "--explain", action="store_true", help="print every query's plan, not only slow ones"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mledger-bench-") as tmp:
        theirs = bench_mlflow(Path(tmp), args.n, args.mlflow_seconds, args.repeat)
        at_m = None
        if not isinstance(theirs, str):
            home = Path(tmp) / "ledger-m"
            small = Built(home, int(theirs["runs"]))
            at_m = measure(small.ledger, small.n, args.repeat)
            small.ledger.close()
        home = Path(tmp) / "ledger"
        built = Built(home, args.n)
        print(
            f"setup (not measured): {built.n:,} versions, {min(REAL, built.n)} registered, scored "
            f"and tagged through the API, the rest bulk-inserted; {built.tagged:,} tagged "
            f"through set_tags: {built.seconds:.1f} s"
        )
        timings = measure(built.ledger, built.n, args.repeat)
        worst = max(timings, key=lambda k: timings[k][0])
        plans = {}
        totals = {}
        for label, kwargs in queries(built.n):
            sql, plan, totals[label] = explain(built.ledger, kwargs)
            if args.explain or timings[label][0] > TARGET_MS:
                plans[label] = (sql, plan)
        print(
            f"model search over {built.n:,} versions, in-process, warm "
            f"(median and max of {args.repeat} calls after 2 warm-up; limit 50):"
        )
        report(built.n, timings, totals)
        ok = timings[worst][0] <= TARGET_MS
        print(
            f"worst median: {timings[worst][0]:.2f} ms ({worst})  "
            f"[target ≤ {TARGET_MS:.0f} ms: {'PASS' if ok else 'FAIL'}]"
        )
        for label, (sql, plan) in plans.items():
            print(f"EXPLAIN QUERY PLAN, {label}:")
            print(f"  {sql}")
            for step in plan:
                print(f"    {step}")
        analyze(built.ledger)
        after = measure(built.ledger, built.n, args.repeat)
        built.ledger.close()
    worst_after = max(after, key=lambda k: after[k][0])
    moved = [
        f"{k} {timings[k][0]:.1f}→{after[k][0]:.1f}"
        for k in timings
        if abs(after[k][0] - timings[k][0]) > max(1.0, 0.25 * timings[k][0])
    ]
    print(
        f"after ANALYZE (mledger does not run it; not the figure): worst median "
        f"{after[worst_after][0]:.2f} ms ({worst_after}); "
        + (f"changed by > 25 %: {', '.join(moved)} ms" if moved else "no median moved by > 25 %")
    )
    if isinstance(theirs, str):
        print(f"mlflow: {theirs}; peer comparison skipped")
    else:
        assert at_m is not None
        m = int(theirs["runs"])
        print(
            f"mlflow {theirs['version']} from {theirs['how']}: {m:,} runs created through its "
            f"API in {theirs['build_s']:.0f} s; search_runs (max_results 50) against mledger at "
            f"the same {m:,} versions, same run:"
        )
        print(
            f"  {'query':<24} {'mledger':>8} {'ms':>8} {'mlflow':>8} {'ms':>8} {'calls':>5} "
            f"{'ratio':>7}"
        )
        ratios = []
        for label, (median, _, found) in at_m.items():
            q = theirs["queries"].get(label)
            if q is None:
                print(f"  {label:<24} {found:>8} {median:>8.2f} {'n/a':>8}")
                continue
            ratio = q["median_ms"] / median
            ratios.append(ratio)
            print(
                f"  {label:<24} {found:>8} {median:>8.2f} {q['found']:>8} {q['median_ms']:>8.2f} "
                f"{q['calls']:>5} {ratio:>6.1f}x"
            )
        print("  MLflow's filters (| : one search_runs each, merged newest first):")
        for label, q in theirs["queries"].items():
            print(f"    {label}: {q['filter'] or '(none)'}")
        print(
            f"mledger is {statistics.geometric_mean(ratios):.1f}x faster than MLflow at "
            f"{m:,} (geometric mean of the medians' ratios; least {min(ratios):.1f}x)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
