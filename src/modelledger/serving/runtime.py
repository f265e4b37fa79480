"""The serving runtime: the models loaded for each arm of an environment's route, their
contracts and the route itself, as one immutable object built from the ledger.

A runtime is never changed once built. Hot swap builds a new one and replaces one reference,
so a request that grabbed the old reference finishes on the versions it started on. Models are
shared between runtimes by version id (a version's bytes cannot change), so adding a canary does
not reload the primary.

How a model is called: one list per batch, whatever the request count.

- an object with ``n_features_in_`` (a fitted scikit-learn estimator or pipeline) gets a matrix,
  one row per request, its columns in the order of ``feature_names_in_`` when it has one, else in
  the sorted order of the card's declared inputs (a card is stored as canonical JSON, so the order
  it was written in is not kept); such a model without declared inputs or feature names is
  refused at load;
- any other object gets the list of feature dicts.

``predict`` gives the prediction and ``predict_proba`` (when there is one) the confidence, the
highest class probability; a model with ``predict_proba`` only predicts its most probable class
(``classes_[i]`` when it has ``classes_``); a plain callable's return values are the predictions.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelledger.core.errors import MledgerError
from modelledger.core.ids import short
from modelledger.ledger.home import Ledger, now
from modelledger.models.loaders import LoadFailed, check_interface, load_model, type_name
from modelledger.serving import state as serving_state
from modelledger.serving.features import Contract
from modelledger.serving.route_policy import RoutePolicy
from modelledger.serving.state import Pointer, ServedModel, ServedSubject

Answer = tuple[Any, float | None]  # (prediction, confidence)
Scorer = Callable[[list[dict[str, Any]]], list[Answer]]


class ModelFailed(MledgerError):
    """The model raised, or answered with the wrong number of predictions (HTTP 500)."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model in memory, with the folder its verified artifact was written to: the folder lives
    as long as the object (some factories read their files lazily) and goes with it."""

    version_id: str
    label: str
    loader: str
    model: Any
    interface: tuple[str, ...]
    workdir: Path | None = field(default=None, repr=False)

    def release(self) -> None:
        """Remove the artifact folder now: the server is stopping (a SIGTERM'd process runs no
        finalizers, so waiting for the garbage collector would leave it behind)."""
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass(frozen=True, eq=False)
class ServingArm:
    name: str  # primary, canary-1, … or "shadow"
    subject_id: str  # what the route names: an mv- or sys- id
    label: str
    percent: float | None
    version_id: str  # the model that answers (the subject itself, or a system's model)
    version_label: str
    system_id: str | None
    contract: Contract
    score: Scorer
    loaded: LoadedModel

    def to_json(self) -> dict[str, Any]:
        return {
            "arm": self.name,
            "id": self.subject_id,
            "label": self.label,
            "percent": self.percent,
            "version_id": self.version_id,
            "version_label": self.version_label,
            "system_id": self.system_id,
            "inputs": self.contract.inputs,
        }


@dataclass(frozen=True, eq=False)
class Runtime:
    env: str
    pointer: Pointer
    live_label: str | None
    policy: RoutePolicy | None  # None: nothing is live
    route_revision: int | None  # the route in force; None for the implicit single arm
    arms: Mapping[str, ServingArm]  # by arm name, the primary first
    shadows: tuple[ServingArm, ...]
    loaded_at: str

    @property
    def serving(self) -> bool:
        return self.policy is not None and bool(self.arms)

    def models(self) -> list[LoadedModel]:
        return [a.loaded for a in (*self.arms.values(), *self.shadows)]

    def describe(self) -> str:
        """``fraud@3 mv-…`` (plus the canaries and shadows) for the start-up line."""
        if not self.serving:
            return "nothing live yet: /predict answers 503 until a promotion"
        arms = list(self.arms.values())
        text = f"{arms[0].label} {short(arms[0].subject_id)}"
        if len(arms) > 1:
            text += "; " + ", ".join(f"{a.name} {a.label} {a.percent:g} %" for a in arms[1:])
        if self.shadows:
            text += "; shadow " + ", ".join(s.label for s in self.shadows)
        return text

    def to_json(self) -> dict[str, Any]:
        p = self.policy
        return {
            "env": self.env,
            "live": self.pointer.live_id,
            "label": self.live_label,
            "route_revision": self.route_revision,
            "route_digest": p.digest() if p else None,
            "sticky_key": p.sticky_key if p else None,
            "arms": [a.to_json() for a in self.arms.values()],
            "shadows": [s.to_json() for s in self.shadows],
            "loaded_at": self.loaded_at,
        }


def build_runtime(ledger: Ledger, env: str, previous: Runtime | None = None) -> Runtime:
    """Read the plan, load every model it needs (reusing ``previous``'s by version id) and wire
    the arms. Raises (NotFound, NotServable, CheckFailed for bytes that do not verify,
    LoadFailed) without side effects: models loaded for a failed build are dropped."""
    plan = serving_state.plan(ledger, env)
    reuse = {m.version_id: m for m in previous.models()} if previous is not None else {}
    loaded: dict[str, LoadedModel] = {}
    sticky = plan.policy.sticky_key if plan.policy else None

    def arm(subject: ServedSubject) -> ServingArm:
        m = subject.model
        model = loaded.get(m.version_id) or reuse.get(m.version_id) or load(ledger, m)
        loaded[m.version_id] = model
        return ServingArm(
            name=subject.arm,
            subject_id=subject.subject_id,
            label=subject.label,
            percent=subject.percent,
            version_id=m.version_id,
            version_label=m.label,
            system_id=m.system_id,
            contract=Contract(m.inputs, sticky),
            score=make_scorer(model, m.inputs),
            loaded=model,
        )

    arms = {s.arm: arm(s) for s in plan.arms}
    shadows = tuple(arm(s) for s in plan.shadows)
    return Runtime(
        env, plan.pointer, plan.live_label, plan.policy, plan.route_revision, arms, shadows, now()
    )


def load(ledger: Ledger, m: ServedModel) -> LoadedModel:
    """Materialise (verifying every byte) and load one model in this process."""
    workdir = Path(tempfile.mkdtemp(prefix="mledger-serve-"))
    try:
        path = serving_state.materialise(ledger, m, workdir)
        model = load_model(m.loader, path)
        interface = tuple(check_interface(model))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    loaded = LoadedModel(m.version_id, m.label, m.loader, model, interface, workdir)
    # the folder goes when the last runtime holding the model does (or at exit)
    weakref.finalize(loaded, shutil.rmtree, workdir, ignore_errors=True)
    return loaded


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to Python values (JSON for the response and the log)."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _plain_list(values: Any, n: int, label: str) -> list[Any]:
    out = _plain(values)
    if not isinstance(out, list):
        try:
            out = [_plain(v) for v in out]
        except TypeError:
            raise ModelFailed(
                f"{label} answered with {type(out).__name__}, not one value per request"
            ) from None
    if len(out) != n:
        raise ModelFailed(f"{label} answered {len(out)} values for {n} request(s)")
    return out


def _confidence(row: Any) -> float | None:
    if isinstance(row, list | tuple):
        return float(max(row)) if row else None
    if isinstance(row, int | float) and not isinstance(row, bool):
        return float(row)
    return None


def _columns(model: Any, inputs: Mapping[str, str] | None, label: str) -> list[str] | None:
    """The matrix columns for a scikit-learn style model, or None for one taking dicts."""
    try:
        width = getattr(model, "n_features_in_", None)
        names = getattr(model, "feature_names_in_", None)
    except Exception:  # a property that raises: treat as a plain object
        return None
    if width is None:
        return None
    if names is not None:
        columns = [str(n) for n in names]
        if inputs is not None and set(columns) != set(inputs):
            raise LoadFailed(
                f"{label} was fitted on features {', '.join(columns)} but its card declares "
                f"{', '.join(sorted(inputs))}"
            )
        return columns
    if inputs is None:
        raise LoadFailed(
            f"{label} ({type_name(model)}) takes a {width}-column matrix but declares no inputs "
            "in its model card, so the server cannot order the columns: declare `inputs:`"
        )
    if len(inputs) != int(width):
        raise LoadFailed(
            f"{label} takes {width} columns but its card declares {len(inputs)} inputs"
        )
    return sorted(inputs)


def make_scorer(loaded: LoadedModel, inputs: Mapping[str, str] | None) -> Scorer:
    """A function from feature dicts to (prediction, confidence) pairs; see the module docstring."""
    model, label, interface = loaded.model, loaded.label, loaded.interface
    columns = _columns(model, inputs, label)

    def matrix(rows: list[dict[str, Any]]) -> Sequence[Any]:
        if columns is None:
            return rows
        return [[row[c] for c in columns] for row in rows]

    def guarded(fn: Callable[[Sequence[Any]], Any], x: Sequence[Any]) -> Any:
        try:
            return fn(x)
        except Exception as exc:
            raise ModelFailed(f"{label} failed: {type(exc).__name__}: {exc}") from exc

    if "predict" in interface:
        predict = model.predict
        proba = model.predict_proba if "predict_proba" in interface else None

        def score(rows: list[dict[str, Any]]) -> list[Answer]:
            x, n = matrix(rows), len(rows)
            preds = _plain_list(guarded(predict, x), n, label)
            if proba is None:
                return [(p, None) for p in preds]
            confs = [_confidence(r) for r in _plain_list(guarded(proba, x), n, label)]
            return list(zip(preds, confs, strict=True))

        return score
    if "predict_proba" in interface:
        classes = getattr(model, "classes_", None)
        known = _plain(classes) if classes is not None else None

        def by_proba(rows: list[dict[str, Any]]) -> list[Answer]:
            out: list[Answer] = []
            for row in _plain_list(guarded(model.predict_proba, matrix(rows)), len(rows), label):
                best = max(range(len(row)), key=row.__getitem__)
                out.append((known[best] if known is not None else best, float(row[best])))
            return out

        return by_proba

    def call(rows: list[dict[str, Any]]) -> list[Answer]:
        return [(p, None) for p in _plain_list(guarded(model, matrix(rows)), len(rows), label)]

    return call
