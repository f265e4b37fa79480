"""The demo's synthetic world: shipments, whether they arrive late, and the models that predict it.

Everything is generated from fixed seeds, so every run writes the same bytes (and the same
``ds-`` ids). scikit-learn is imported only by the functions that train or score.
"""

from __future__ import annotations

import csv
import importlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CARRIERS = ("ups", "dhl", "fedex", "dpd")
COLUMNS = ("customer_id", "distance", "carrier", "route", "weight", "late")
# The serving contract (model card `inputs:`). customer_id is in the data but not an input.
INPUTS = {"distance": "float", "carrier": "category", "route": "category", "weight": "float"}
CARD: dict[str, Any] = {
    "intended_use": "flag shipments likely to arrive late, for the dispatch desk",
    "inputs": INPUTS,
    "label": "late",
}
ORDER = sorted(INPUTS)  # how the server orders a scikit-learn model's columns
CATEGORICAL = [i for i, name in enumerate(ORDER) if INPUTS[name] == "category"]


@dataclass(frozen=True)
class Shipment:
    customer_id: str
    distance: float
    carrier: str
    route: str
    weight: float
    late: int

    def features(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ORDER}


def is_late(distance: float, carrier: str, route: str, weight: float, slow: bool = False) -> bool:
    """The world's rule: new routes are express lanes, late only on the longest trips; heavy dhl
    parcels are late. ``slow``: from night 4 on, new routes are late beyond 150 km."""
    if carrier == "dhl" and weight > 25:
        return True
    if route == "new":
        return distance > (150 if slow else 800)
    return distance > 500


def shipments(
    seed: int,
    n: int,
    *,
    customers: tuple[int, int] = (1, 99_999),
    carriers: Sequence[str] = CARRIERS,
    new_share: float = 0.25,
    slow: bool = False,
    old_sla: bool = False,
) -> list[Shipment]:
    """``n`` shipments; 6% of labels are noise. ``old_sla``: the bug of night 2's feed, which
    judged new-route deliveries against the old routes' delivery promise."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        customer = f"C-{rng.randint(*customers):06d}"
        distance = round(rng.uniform(20, 900), 1)
        carrier = rng.choice(list(carriers))
        route = "new" if rng.random() < new_share else "old"
        weight = round(rng.uniform(0.5, 40), 1)
        judged_as = "old" if old_sla else route
        late = is_late(distance, carrier, judged_as, weight, slow) != (rng.random() < 0.06)
        out.append(Shipment(customer, distance, carrier, route, weight, int(late)))
    return out


def write_csv(path: Path, rows: Iterable[Shipment]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([r.customer_id, r.distance, r.carrier, r.route, r.weight, r.late])


def read_csv(paths: Iterable[Path]) -> list[Shipment]:
    out = []
    for path in paths:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                distance, weight = float(row["distance"]), float(row["weight"])
                route, late = row["route"], int(row["late"])
                out.append(
                    Shipment(row["customer_id"], distance, row["carrier"], route, weight, late)
                )
    return out


def _sklearn(module: str) -> Any:
    """``sklearn.MODULE``, imported on first use (scikit-learn ships no type information)."""
    return importlib.import_module(f"sklearn.{module}")


def matrix(rows: Iterable[Shipment]) -> list[list[Any]]:
    return [[getattr(r, name) for name in ORDER] for r in rows]


def fit(rows: Sequence[Shipment], kind: str, seed: int) -> Any:
    """A scikit-learn pipeline: one-hot carrier and route, then a small tree (``tree``) or
    gradient boosting (``gbm``); fitted on a plain matrix in the contract's column order."""
    import numpy as np

    onehot = _sklearn("preprocessing").OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    prep = _sklearn("compose").ColumnTransformer(
        [("onehot", onehot, CATEGORICAL)], remainder="passthrough"
    )
    if kind == "tree":
        clf = _sklearn("tree").DecisionTreeClassifier(
            max_depth=5, min_samples_leaf=10, random_state=seed
        )
    else:
        clf = _sklearn("ensemble").HistGradientBoostingClassifier(max_iter=60, random_state=seed)
    model = _sklearn("pipeline").make_pipeline(prep, clf)
    # one thread: these models are tiny, and OpenMP threads spinning on a busy machine cost more
    with importlib.import_module("threadpoolctl").threadpool_limits(1):
        model.fit(np.array(matrix(rows), dtype=object), [r.late for r in rows])
    return model


def predict(model: Any, rows: Sequence[Shipment]) -> list[int]:
    return [int(p) for p in model.predict(matrix(rows))]


def accuracy(model: Any, rows: Sequence[Shipment]) -> tuple[float, float]:
    """Accuracy overall and on the new_routes slice, rounded to 4 places."""
    accuracy_score = _sklearn("metrics").accuracy_score
    new = [r for r in rows if r.route == "new"]
    overall = accuracy_score([r.late for r in rows], predict(model, rows))
    sliced = accuracy_score([r.late for r in new], predict(model, new))
    return round(float(overall), 4), round(float(sliced), 4)


def train(snapshot: str, out: str, seed: int) -> str:
    """The nightly job, as ``python train.py SNAPSHOT OUT SEED`` runs it: train the tree on the
    partitions the snapshot holds (read through the ledger) and log it; the version's id."""
    from modelledger import client as ml

    with ml.run("delay", seed=seed, data=[f"{snapshot}:train"]) as run:
        ml.checkout(snapshot, "train-data", force=True)
        parts = sorted(p.parent for p in Path("train-data").rglob("part.csv"))
        run.log_params({"partitions": [p.name for p in parts]})
        model = fit(read_csv(p / "part.csv" for p in parts), "tree", seed)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        importlib.import_module("joblib").dump(model, out)
        version = run.log_model(out, loader="joblib", card=CARD, params={"model": "tree"})
    return version.id


if __name__ == "__main__":
    import sys

    print(train(sys.argv[1], sys.argv[2], int(sys.argv[3])))
