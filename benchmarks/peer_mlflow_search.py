"""MLflow's equivalent of ``mledger model search``: a SQLite tracking store holding as many runs
as MLflow's API creates in the time given (one experiment per model name; each run with the
same params, metrics, tags and dataset input as a version in bench_search.py), then
``MlflowClient.search_runs(filter_string=...)`` timed for the same queries, max_results 50. Run
by bench_search.py, in its own process when MLflow lives in another virtualenv
(``make bench-peers`` puts it in .peers/mlflow).

The population both sides build is defined here, in the standard library only, so that this
file runs without modelledger and bench_search.py imports it.

    python benchmarks/peer_mlflow_search.py DIR [--seconds 120] [--max 100000]  # one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MODELS = [f"model-{k:02d}" for k in range(20)]
USERS = [f"user-{k}" for k in range(10)]
LRS = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.3, 1.0)  # 0.01..0.1: 4 in 10
OPTS = ("adam", "adamw", "sgd", "rmsprop")
SNAPSHOTS = {"train-a": 0.5, "train-b": 0.3, "train-c": 0.15, "train-d": 0.05}  # share used
START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=1)  # between registrations

# What the queries ask, on both sides.
NAME = "model-03"  # one model in 20
LR_LOW, LR_HIGH = 0.01, 0.1  # 40 % of versions
AUC_MIN = 0.86  # 10 % of the 95 % scored on holdout
USER = "user-3"  # one in 10, with SINCE_SHARE: 1 % of versions
SINCE_SHARE = 0.9  # since the registration 90 % of the way along
DATA = "train-d"  # 5 %
TAGGED_SHARE = 0.01  # stage=candidate
PRODUCTION = 10  # versions tagged stage=production


@dataclass(frozen=True)
class Spec:
    """One version (one MLflow run): what search can filter on."""

    index: int
    name: str
    user: str
    at: datetime
    params: dict[str, Any]
    data: str  # a snapshot name, role train
    holdout: dict[str, float] | None  # metrics on the eval set "holdout"
    shifted: dict[str, float] | None  # and on "shifted"
    stage: str | None  # tag stage=candidate at registration


def population(n: int, seed: int = 7) -> Iterator[Spec]:
    """``n`` versions, the same for every caller with the same seed."""
    rng = random.Random(seed)
    snaps, weights = list(SNAPSHOTS), list(SNAPSHOTS.values())
    for i in range(n):
        params = {
            "lr": rng.choice(LRS),
            "depth": rng.randint(2, 12),
            "opt": rng.choice(OPTS),
            "batch_size": rng.choice((32, 64, 128, 256)),
            "epochs": rng.randint(5, 100),
            "dropout": rng.choice((0.0, 0.1, 0.2, 0.3, 0.5)),
            "weight_decay": rng.choice((0.0, 1e-5, 1e-4, 1e-3)),
            "model": {"hidden": rng.choice((64, 128, 256, 512)), "layers": rng.randint(1, 6)},
            "early_stopping": rng.random() < 0.5,
        }  # ten leaves: model.hidden and model.layers are nested
        auc = round(0.5 + 0.4 * rng.random(), 4)
        holdout = {"auc": auc, "loss": round(1.0 - auc + 0.05 * rng.random(), 4)}
        shifted_auc = round(auc - 0.1 * rng.random(), 4)
        shifted = {"auc": shifted_auc, "loss": round(1.0 - shifted_auc, 4)}
        yield Spec(
            index=i,
            name=MODELS[rng.randrange(len(MODELS))],
            user=USERS[rng.randrange(len(USERS))],
            at=START + i * STEP,
            params=params,
            data=rng.choices(snaps, weights)[0],
            holdout=holdout if rng.random() < 0.95 else None,
            shifted=shifted if rng.random() < 0.2 else None,
            stage="candidate" if rng.random() < TAGGED_SHARE else None,
        )


def production(n: int) -> list[int]:
    """The indices tagged stage=production after registration, spread over the population."""
    return sorted({int((k + 0.5) * n / PRODUCTION) for k in range(min(PRODUCTION, n))})


def since(n: int) -> datetime:
    return START + int(n * SINCE_SHARE) * STEP


def flat(params: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in params.items():
        if isinstance(value, dict):
            yield from flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def build(client: Any, tmp: Path, n_max: int, seconds: float) -> tuple[int, dict[str, str], float]:
    """Runs until ``n_max`` or ``seconds``; (runs, experiment id by model name, seconds)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

    root = tmp / "mlruns"  # explicit: the default is ./mlruns in the working directory
    experiments = {
        m: client.create_experiment(m, artifact_location=(root / m).as_uri()) for m in MODELS
    }
    datasets = {
        s: Dataset(name=s, digest=f"{k:08x}", source_type="local", source=f"file:///data/{s}")
        for k, s in enumerate(SNAPSHOTS)
    }
    numbers = dict.fromkeys(MODELS, 0)
    ids: list[str] = []
    t0 = time.perf_counter()
    for spec in population(n_max):
        if time.perf_counter() - t0 >= seconds:
            break
        numbers[spec.name] += 1
        tags = {"mlflow.user": spec.user}
        if spec.stage:
            tags["stage"] = spec.stage
        run = client.create_run(
            experiments[spec.name],
            start_time=_ms(spec.at),
            tags=tags,
            run_name=f"{spec.name}@{numbers[spec.name]}",
        )
        run_id = run.info.run_id
        ts = _ms(spec.at)
        metrics = [
            Metric(f"{on}_{k}", v, ts, 0)
            for on, scores in (("holdout", spec.holdout), ("shifted", spec.shifted))
            for k, v in (scores or {}).items()
        ]
        params = [Param(k, str(v)) for k, v in flat(spec.params)]
        client.log_batch(run_id, metrics=metrics, params=params)
        context = InputTag("mlflow.data.context", "train")
        client.log_inputs(run_id, [DatasetInput(datasets[spec.data], tags=[context])])
        ids.append(run_id)
    for i in production(len(ids)):
        client.set_tag(ids[i], "stage", "production")
    return len(ids), experiments, time.perf_counter() - t0


def queries(n: int, experiments: dict[str, str]) -> list[tuple[str, list[str], list[str]]]:
    """(label as bench_search.py names it, experiment ids, filter strings). MLflow params are
    text and a filter is an AND of comparisons, with IN only for run ids and datasets: a range of
    a param is one search per value inside it, merged newest first, as a user of MLflow must."""
    every = list(experiments.values())
    one = [experiments[NAME]]
    inside = [f"params.lr = '{v}'" for v in LRS if LR_LOW <= v <= LR_HIGH]
    scored = f"metrics.holdout_auc >= {AUC_MIN}"
    by = f"attributes.user_id = '{USER}' AND attributes.start_time >= {_ms(since(n))}"
    return [
        ("no filter", every, [""]),
        ("name", one, [""]),
        ("name + param =", one, ["params.lr = '0.01'"]),
        ("param range (40%)", every, inside),
        ("metric >= (10%)", every, [scored]),
        ("name + range + metric", one, [f"{p} AND {scored}" for p in inside]),
        ("tag (10 match)", every, ["tags.stage = 'production'"]),
        ("registrant + since", every, [by]),
        ("data snapshot (5%)", every, [f"datasets.name = '{DATA}'"]),
        ("param, no match", every, ["params.opt = 'lion'"]),
        (
            "metric + data + param",
            every,
            [f"{scored} AND datasets.name = '{DATA}' AND params.opt = 'sgd'"],
        ),
    ]


def search(client: Any, exp_ids: list[str], filters: list[str], limit: int = 50) -> list[Any]:
    """The newest ``limit`` runs matching any of ``filters`` (MLflow's own order)."""
    if len(filters) == 1:
        return list(client.search_runs(exp_ids, filter_string=filters[0], max_results=limit))
    runs = {
        r.info.run_id: r
        for f in filters
        for r in client.search_runs(exp_ids, filter_string=f, max_results=limit)
    }
    newest = sorted(runs.values(), key=lambda r: (-r.info.start_time, r.info.run_id))
    return newest[:limit]


def timed(call: Any, repeat: int, budget: float) -> tuple[list[float], int]:
    """Two warm-up calls, then ``repeat`` timed ones (fewer when they exceed ``budget``
    seconds, never fewer than 5); (ms each, results of the last)."""
    for _ in range(2):
        call()
    each: list[float] = []
    found = 0
    t0 = time.perf_counter()
    while len(each) < repeat and (len(each) < 5 or time.perf_counter() - t0 < budget):
        t = time.perf_counter()
        found = len(call())
        each.append((time.perf_counter() - t) * 1000)
    return each, found


def bench_mlflow(tmp: Path, n_max: int, seconds: float, repeat: int) -> dict[str, Any]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # local files only
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import logging

    import mlflow
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    runs, experiments, build_s = build(client, tmp, n_max, seconds)
    out: dict[str, Any] = {}
    for label, exp_ids, filters in queries(runs, experiments):

        def call(exp_ids: list[str] = exp_ids, filters: list[str] = filters) -> list[Any]:
            return search(client, exp_ids, filters)

        each, found = timed(call, repeat, budget=10.0)
        out[label] = {
            "median_ms": statistics.median(each),
            "max_ms": max(each),
            "found": found,
            "calls": len(each),
            "filter": " | ".join(filters),
        }
    return {"version": str(mlflow.__version__), "runs": runs, "build_s": build_s, "queries": out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="an empty directory to work in")
    parser.add_argument("--seconds", type=float, default=120.0, help="time to create runs in")
    parser.add_argument("--max", type=int, default=100_000, help="at most this many runs")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per query")
    args = parser.parse_args()
    print(json.dumps(bench_mlflow(args.dir, args.max, args.seconds, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
