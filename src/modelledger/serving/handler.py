"""The request path, free of HTTP: validate, route, score, log; shadows scored off the path.

``POST /predict`` takes one request::

    {"request_id": "optional, 1-128 printable ASCII", "features": {"amount": 12.5, ...}}

or a batch, each instance shaped like one request::

    {"instances": [{"request_id": ..., "features": {...}}, ...]}

and answers ``{"request_id", "prediction", "confidence"?, "version_id", "system_id"?, "arm"}``
(a batch: ``{"predictions": [...]}`` in order). A request is validated completely before anything
is scored or logged: a bad one (or one bad instance of a batch) is refused whole (422), naming the
field, and nothing is logged for it. ``predict`` scores and hands back an :class:`Outcome`: the
answer, its log records (mode ``served``) and the client-given ids to claim; the HTTP layer
returns the answer only once the ids are claimed and the records durable (app.py). Each shadow
then scores the same features on the shadow thread and is logged with mode ``shadow`` under the
same request id, its output never returned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelledger.core.errors import InvalidInput, MledgerError
from modelledger.predictions.ingest import mint_request_id
from modelledger.serving.features import BadRequest, check_request_id
from modelledger.serving.runtime import Runtime, ServingArm

log = logging.getLogger(__name__)

MAX_BATCH = 10_000
REQUEST_KEYS = frozenset({"request_id", "features"})


class Unavailable(MledgerError):
    """Nothing to answer with (HTTP 503): nothing is live in the environment."""


class AlreadyAnswered(MledgerError):
    """A request id given by the client names a request answered before (HTTP 409)."""


class LogSink(Protocol):
    def log(self, record: Mapping[str, Any]) -> str: ...


Item = tuple[str, dict[str, Any]]  # (request id, features as sent)


@dataclass
class Outcome:
    """A scored request, not yet answered: what to return, what to log first, which ids given
    by the client to claim first (``id_field`` names them in a refusal), what the shadows score."""

    answer: dict[str, Any]
    records: list[dict[str, Any]]
    given: list[str] = field(default_factory=list)
    id_field: str = "request_id"
    shadows: Sequence[ServingArm] = ()
    items: list[Item] = field(default_factory=list)

    def taken(self, request_id: str) -> AlreadyAnswered:
        return AlreadyAnswered(
            f"{self.id_field}: request {request_id} was answered before and is in the inference "
            "log; a request id names one request (send a new one, or none to have one minted)"
        )


class ShadowScorer:
    """Scores shadow arms on one background thread and logs their answers. A backlog beyond
    ``max_pending`` requests is skipped (counted) rather than grow without bound; so is a request
    whose features do not fit a shadow's declared inputs."""

    def __init__(
        self,
        sink: LogSink,
        max_pending: int = 50_000,
        on_skip: Callable[[str, int], None] | None = None,
    ) -> None:
        self.sink = sink
        self.max_pending = max_pending
        self.on_skip = on_skip
        self.scored = 0
        self.skipped = 0
        self.failed = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mledger-shadow")

    def submit(self, shadows: Sequence[ServingArm], items: list[Item]) -> None:
        with self._lock:
            if self._pending + len(items) > self.max_pending:
                self.skipped += len(items) * len(shadows)
                self._skipped(shadows, len(items))
                return
            self._pending += len(items)
        try:
            self._pool.submit(self._run, shadows, items)
        except RuntimeError:  # shut down: the server is stopping
            with self._lock:
                self._pending -= len(items)
                self.skipped += len(items) * len(shadows)
            self._skipped(shadows, len(items))

    def _skipped(self, shadows: Sequence[ServingArm], n: int) -> None:
        if self.on_skip is not None:
            for shadow in shadows:
                self.on_skip(shadow.label, n)

    def _run(self, shadows: Sequence[ServingArm], items: list[Item]) -> None:
        try:
            for shadow in shadows:
                self._score(shadow, items)
        finally:
            with self._lock:
                self._pending -= len(items)

    def _score(self, shadow: ServingArm, items: list[Item]) -> None:
        ids, sent, rows = [], [], []
        for request_id, features in items:
            try:
                rows.append(shadow.contract.check(features))
            except InvalidInput:  # the shadow declares other inputs: it cannot score this one
                with self._lock:
                    self.skipped += 1
                self._skipped([shadow], 1)
                continue
            ids.append(request_id)
            sent.append(features)
        if not rows:
            return
        started = time.perf_counter()
        try:
            answers = shadow.score(rows)
        except Exception as exc:
            with self._lock:
                self.failed += len(rows)
            log.warning("shadow %s failed on %d request(s): %s", shadow.label, len(rows), exc)
            return
        each = (time.perf_counter() - started) * 1000 / len(rows)
        for request_id, features, (prediction, confidence) in zip(ids, sent, answers, strict=True):
            self.sink.log(
                _record(shadow, request_id, features, prediction, confidence, each, "shadow")
            )
        with self._lock:
            self.scored += len(rows)

    def close(self) -> None:
        """Score what is queued, then stop (before the logger closes, so it is all logged)."""
        self._pool.shutdown(wait=True)


def _record(
    arm: ServingArm,
    request_id: str,
    features: dict[str, Any],
    prediction: Any,
    confidence: float | None,
    latency_ms: float,
    mode: str,
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "version_id": arm.version_id,
        "system_id": arm.system_id,
        "arm": arm.name,
        "mode": mode,
        "features": features,
        "output": prediction,
        "confidence": confidence,
        "latency_ms": latency_ms,
    }


def _answer(
    arm: ServingArm, request_id: str, prediction: Any, confidence: float | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"request_id": request_id, "prediction": prediction}
    if confidence is not None:
        out["confidence"] = confidence
    out["version_id"] = arm.version_id
    if arm.system_id is not None:
        out["system_id"] = arm.system_id
    out["arm"] = arm.name
    return out


class Handler:
    """Answers one request body (already parsed JSON) with the runtime the caller grabbed."""

    def __init__(
        self, sink: LogSink, shadows: ShadowScorer | None = None, max_instances: int = MAX_BATCH
    ) -> None:
        self.sink = sink
        self.shadows = shadows
        self.max_instances = max_instances

    def predict(self, runtime: Runtime | None, payload: Any) -> Outcome:
        started = time.perf_counter()
        if type(payload) is not dict:
            raise BadRequest("body", 'the body must be a JSON object: {"features": {...}}')
        if "instances" in payload:
            return self._batch(runtime, payload, started)
        self._shape(payload, "")
        self._available(runtime)
        assert runtime is not None
        request_id, features, arm = self._route(runtime, payload, "")
        model_features = arm.contract.check(features)
        [(prediction, confidence)] = arm.score([model_features])
        latency = (time.perf_counter() - started) * 1000
        return Outcome(
            _answer(arm, request_id, prediction, confidence),
            [_record(arm, request_id, features, prediction, confidence, latency, "served")],
            [request_id] if payload.get("request_id") is not None else [],
            shadows=runtime.shadows,
            items=[(request_id, features)],
        )

    def after(self, outcome: Outcome) -> None:
        """Once answered: the shadows score the same requests."""
        if outcome.shadows and self.shadows is not None:
            self.shadows.submit(outcome.shadows, outcome.items)

    @staticmethod
    def _shape(payload: dict[str, Any], where: str) -> None:
        if not REQUEST_KEYS.issuperset(payload):
            bad = sorted(str(k) for k in payload if k not in REQUEST_KEYS)[0]
            raise BadRequest(
                f"{where}{bad}",
                f"unknown field {bad!r}{' in ' + where[:-1] if where else ''}: a request has "
                "features and an optional request_id (a batch: instances)",
            )
        if "features" not in payload:
            raise BadRequest(f"{where}features", f"{where}features is required")

    @staticmethod
    def _available(runtime: Runtime | None) -> None:
        if runtime is None or not runtime.serving:
            env = runtime.env if runtime is not None else "the environment"
            raise Unavailable(
                f"nothing is live in {env}: promote a version "
                f"(`mledger promote REF --to {env}`) and the server picks it up"
            )

    @staticmethod
    def _route(
        runtime: Runtime, payload: dict[str, Any], where: str
    ) -> tuple[str, dict[str, Any], ServingArm]:
        assert runtime.policy is not None
        given = payload.get("request_id")
        request_id = (
            mint_request_id() if given is None else check_request_id(given, f"{where}request_id")
        )
        features = payload["features"]
        if type(features) is not dict:
            raise BadRequest(f"{where}features", f"{where}features: expected an object")
        policy = runtime.policy
        try:
            key = policy.key_for(request_id, features)
        except InvalidInput as exc:
            raise BadRequest(f"{where}features.{policy.sticky_key}", str(exc)) from None
        return request_id, features, runtime.arms[policy.assign(key).name]

    def _batch(self, runtime: Runtime | None, payload: dict[str, Any], started: float) -> Outcome:
        if set(payload) != {"instances"}:
            bad = sorted(str(k) for k in payload if k != "instances")[0]
            raise BadRequest(bad, f"unknown field {bad!r} beside instances")
        instances = payload["instances"]
        if type(instances) is not list or not instances:
            raise BadRequest("instances", "instances: expected a non-empty list of requests")
        if len(instances) > self.max_instances:
            raise BadRequest("instances", f"instances: at most {self.max_instances} per batch")
        for i, inst in enumerate(instances):
            if type(inst) is not dict:
                raise BadRequest(f"instances[{i}]", f"instances[{i}]: expected an object")
            self._shape(inst, f"instances[{i}].")
        self._available(runtime)
        assert runtime is not None
        routed: list[tuple[str, dict[str, Any], ServingArm, dict[str, Any]]] = []
        seen: set[str] = set()
        for i, inst in enumerate(instances):
            where = f"instances[{i}]."
            request_id, features, arm = self._route(runtime, inst, where)
            if request_id in seen:
                raise BadRequest(f"{where}request_id", f"request_id {request_id!r} is given twice")
            seen.add(request_id)
            routed.append(
                (request_id, features, arm, arm.contract.check(features, f"{where}features"))
            )
        by_arm: dict[str, list[int]] = {}
        for i, (_, _, arm, _) in enumerate(routed):
            by_arm.setdefault(arm.name, []).append(i)
        answers: list[Any] = [None] * len(routed)
        for name, positions in by_arm.items():
            scored = runtime.arms[name].score([routed[i][3] for i in positions])
            for i, answer in zip(positions, scored, strict=True):
                answers[i] = answer
        given = [
            r[0]
            for r, inst in zip(routed, instances, strict=True)
            if inst.get("request_id") is not None
        ]
        latency = (time.perf_counter() - started) * 1000 / len(routed)
        records, out = [], []
        for (request_id, features, arm, _), (prediction, confidence) in zip(
            routed, answers, strict=True
        ):
            records.append(
                _record(arm, request_id, features, prediction, confidence, latency, "served")
            )
            out.append(_answer(arm, request_id, prediction, confidence))
        return Outcome(
            {"predictions": out},
            records,
            given,
            "instances[].request_id",
            runtime.shadows,
            [(r[0], r[1]) for r in routed],
        )
