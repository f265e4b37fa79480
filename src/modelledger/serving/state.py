"""What the prediction server reads from the ledger: the environment's pointer (cheap, polled),
the route in force with each arm's servable model, and the model's artifact materialised into a
folder with every byte verified against its recorded sha256.

Which model of a system answers: a ``sys-`` id pins several components, and the server runs one
model per arm. It is the component keyed ``model`` (else ``generator``) when that is a model
version; otherwise the only model the system pins (nested systems included). A system with several
models and neither key is refused with :class:`NotServable`, as is a version registered without a
loader: the server cannot guess how to run either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Connection

from modelledger.core.errors import CheckFailed
from modelledger.ledger import cards, tombstones
from modelledger.ledger.home import Ledger
from modelledger.models import deployables
from modelledger.models.checkout import artifact_name, write_artifact
from modelledger.models.version import ArtifactRef, ModelVersion
from modelledger.releases.environments import require_env
from modelledger.serving import store as routes
from modelledger.serving.route_policy import RoutePolicy
from modelledger.serving.routing import current_route

# The component keys that name a system's serving model, in order of preference.
SERVING_KEYS = ("model", "generator")


class NotServable(CheckFailed):
    """What is live (or routed to) cannot be run by the server: no loader, or no single model."""


@dataclass(frozen=True)
class Pointer:
    """What the server polls: a change in either field means the runtime must be rebuilt.

    ``route_revision`` is the environment's newest route revision whether or not it is in force
    (a promotion ends a route without adding a revision, and ``live_id`` tells that apart)."""

    env: str
    live_id: str | None
    route_revision: int | None


@dataclass(frozen=True)
class ServedModel:
    """One model the server loads: how (loader), from what (verified artifact), with what contract."""

    version_id: str
    label: str
    loader: str
    artifact: ArtifactRef
    artifact_name: str  # the file name the artifact was registered under (a loader may care)
    inputs: dict[str, str] | None  # the model card's ``inputs:``; None when undeclared
    system_id: str | None = None  # the system it serves in, when the subject is a system
    system_label: str | None = None


@dataclass(frozen=True)
class ServedSubject:
    """A routed arm (or a shadow): the id the route names and the model that answers for it."""

    arm: str  # primary, canary-1, … or "shadow"
    subject_id: str
    label: str
    percent: float | None  # None for shadows
    model: ServedModel


@dataclass(frozen=True)
class ServingPlan:
    """Everything the server needs to build a runtime, read in one transaction."""

    pointer: Pointer
    live_label: str | None
    policy: RoutePolicy | None  # None: nothing is live
    route_revision: int | None  # the route in force; None for the implicit single arm
    arms: tuple[ServedSubject, ...]
    shadows: tuple[ServedSubject, ...]


def pointer(ledger: Ledger, env: str) -> Pointer:
    """The live id and route revision: two primary-key lookups, polled twice a second."""
    with ledger.db.read() as conn:
        return _pointer(conn, env)


def _pointer(conn: Connection, env: str) -> Pointer:
    state = require_env(conn, env)  # NotFound, naming the environment, when there is none
    found = routes.latest(conn, env)
    return Pointer(env, state.current_id, int(found["revision"]) if found else None)


def plan(ledger: Ledger, env: str) -> ServingPlan:
    """The route in force and, for each arm and shadow, the model to load. NotServable when one
    cannot be served (nothing is half-loaded: the caller keeps what it had)."""
    with ledger.db.read() as conn:
        ptr = _pointer(conn, env)
        route = current_route(conn, env)
        policy = route.policy
        if policy is None or ptr.live_id is None:
            return ServingPlan(ptr, None, None, None, (), ())
        arms = tuple(_subject(conn, a.name, a.ref, a.percent, env) for a in policy.arms)
        shadows = tuple(_subject(conn, "shadow", ref, None, env) for ref in policy.shadows)
        live_label = next((a.label for a in arms if a.subject_id == ptr.live_id), None)
    return ServingPlan(ptr, live_label, policy, route.revision, arms, shadows)


def _subject(
    conn: Connection, arm: str, subject_id: str, percent: float | None, env: str
) -> ServedSubject:
    d = deployables.load(conn, subject_id)
    version = serving_model(d)
    if version.loader is None:
        raise NotServable(
            f"{version.label} ({version.id}) in {env} declares no loader, so it cannot be served: "
            "register it with --loader joblib|pickle|python:package.module:factory"
        )
    found = cards.latest(conn, "model", version.id)
    inputs = found[1].get("inputs") if found else None
    model = ServedModel(
        version_id=version.id,
        label=version.label,
        loader=version.loader,
        artifact=version.tuple.artifact,
        artifact_name=artifact_name(version.manifest),
        inputs=dict(inputs) if inputs is not None else None,
        system_id=d.id if d.is_system else None,
        system_label=d.label if d.is_system else None,
    )
    return ServedSubject(arm, d.id, d.label, percent, model)


def serving_model(d: deployables.Deployable) -> ModelVersion:
    """The model that answers for ``d`` (see the module docstring); NotServable if ambiguous."""
    if d.system is None:
        return d.models[0]
    by_id = {v.id: v for v in d.models}
    for key in SERVING_KEYS:
        ref = d.system.components.get(key)
        if ref is not None and ref in by_id:
            return by_id[ref]
    if len(d.models) == 1:
        return d.models[0]
    if not d.models:
        raise NotServable(
            f"system {d.label} ({d.id}) pins no model version, so it cannot be served"
        )
    keys = sorted(k for k, ref in d.system.components.items() if ref in by_id)
    raise NotServable(
        f"system {d.label} ({d.id}) pins {len(d.models)} models "
        f"({', '.join(keys) or 'in nested systems'}) and none is keyed "
        f"{' or '.join(SERVING_KEYS)}: the server cannot tell which one answers; "
        "create the system with --component model=REF"
    )


def materialise(ledger: Ledger, model: ServedModel, directory: Path) -> Path:
    """The artifact under ``directory``, every byte verified against its sha256 (a tree's own
    listing too); CheckFailed, with nothing left to load, when the store's bytes do not match."""
    tombstones.require_bytes(ledger, model.version_id, model.label, model.artifact.sha256)
    if model.artifact.kind == "tree":
        directory = directory / "artifact"
    path, _ = write_artifact(
        ledger.blobs, model.artifact, model.artifact_name, directory, model.label
    )
    return path
