"""``drift check``: for each version that served in the window, its traffic against its reference
profile (input and output drift), its accuracy from feedback against the gate's floor (quality
drift), and the same per protected slice (slice drift).

Counts come from the inference log: features from the Parquet segments (DuckDB, numpy), outputs
and feedback from the SQL table. Nothing row-by-row leaves the databases except the predictions
that have feedback, which a slice needs joined to its features.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from modelledger.core.clock import format_time, parse_time
from modelledger.core.errors import InvalidInput
from modelledger.core.stats import parse_since
from modelledger.drift.judge import Signal, disappeared, distribution_signal, status_rank, worst
from modelledger.drift.policy import DriftPolicy
from modelledger.drift.profile import ReferenceProfile, category_counts
from modelledger.drift.profile_store import StoredProfile
from modelledger.drift.profiles import latest_profile, no_profile_message
from modelledger.drift.quality import Judged, judged_from, quality_signals, view_name
from modelledger.drift.store import reads as drift_reads
from modelledger.drift.traffic import overlapping_segments, served_traffic
from modelledger.ledger.home import Ledger, now
from modelledger.models.resolve import resolve_version
from modelledger.models.store import versions
from modelledger.predictions.store.judged import judged_predictions
from modelledger.predictions.store.window import LogWindow, log_window
from modelledger.releases.environments import require_env
from modelledger.releases.gate import GatePolicy
from modelledger.releases.gatekeeper import env_policy

OUTPUT_CATEGORIES = 1000  # more distinct outputs than this and the output is binned as a number


@dataclass
class VersionDrift:
    version_id: str
    label: str
    predictions: int
    reference: StoredProfile | None
    signals: list[Signal] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst([s.status for s in self.signals])

    def alerts(self) -> list[Signal]:
        return [s for s in self.signals if s.status == "alert"]

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.signals, key=lambda s: -status_rank(s.status))
        return {
            "version_id": self.version_id,
            "label": self.label,
            "predictions": self.predictions,
            "status": self.status,
            "reference": self.reference.to_json() if self.reference else None,
            "signals": [s.to_json() for s in ordered],
        }


@dataclass
class DriftCheck:
    env: str
    checked_at: str
    since: str
    until: str
    window_text: str
    policy: DriftPolicy
    versions: list[VersionDrift]
    message: str | None = None
    events: list[int] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst([v.status for v in self.versions])

    def alerts(self) -> list[tuple[VersionDrift, Signal]]:
        return [(v, s) for v in self.versions for s in v.alerts()]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "env": self.env,
            "checked_at": self.checked_at,
            "window": {"since": self.since, "until": self.until, "text": self.window_text},
            "status": self.status,
            "policy": self.policy.summary(),
            "versions": [v.to_json() for v in self.versions],
            "alerts": [
                {"version_id": v.version_id, "label": v.label, **s.to_json()}
                for v, s in self.alerts()
            ],
            "events": self.events,
        }
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class Window:
    since: str
    until: str
    text: str


def window_of(text: str, until: str | None = None) -> Window:
    end = parse_time(until) if until else parse_time(now())
    start = parse_since(text, end, "--window")
    if start >= end:
        raise InvalidInput(f"--window {text!r}: the window ends before it starts")
    return Window(format_time(start), format_time(end), text)


def served_in(
    conn: Any, env: str, span: Window, wanted: str | None
) -> tuple[LogWindow, list[dict[str, Any]]]:
    """The window's prediction log in ``env`` and the versions that served in it (only the
    version id ``wanted`` when one is given)."""
    log = log_window(conn, env, span.since, span.until)
    served = [
        r for r in drift_reads.served_versions(conn, log)
        if wanted is None or r["version_id"] == wanted
    ]  # fmt: skip
    return log, served


def check(
    ledger: Ledger,
    env: str,
    *,
    window: str = "24h",
    until: str | None = None,
    version: str | None = None,
    policy: DriftPolicy | None = None,
) -> DriftCheck:
    """Every signal for the versions that served ``env`` in the window (or just ``version``)."""
    asked = _Asked(env=env, span=window_of(window, until), policy=policy or DriftPolicy())
    span = asked.span
    with ledger.db.read() as conn:
        environment = require_env(conn, env)
        gate, _ = env_policy(conn, environment)
        wanted = resolve_version(conn, version) if version else None
        log, served = served_in(conn, env, span, wanted)
        labels = {r["version_id"]: _label(conn, r["version_id"]) for r in served}
        segments = overlapping_segments(conn, env, span.since, span.until)
        judged = {
            r["version_id"]: judged_from(
                judged_predictions(conn, log, r["version_id"], int(r["n"]))
            )
            for r in served
        }
        profiles = {r["version_id"]: latest_profile(ledger, r["version_id"]) for r in served}
    found = _Found(
        gate=gate, wanted=wanted, served=served, labels=labels, segments=segments,
        judged=judged, profiles=profiles,
    )  # fmt: skip
    # The outputs are counted from the log's rows (a scan of the wide table on SQLite, which
    # runs without the GIL) on another connection while DuckDB counts the features here.
    wanted_outputs = {vid: prof[1] for vid, prof in profiles.items() if prof and prof[1].output}
    pool = ThreadPoolExecutor(1, thread_name_prefix="mledger-drift-outputs")
    outputs_future = pool.submit(_outputs, ledger, log, wanted_outputs)
    try:
        return _finish(ledger, asked=asked, found=found, outputs=outputs_future)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class _Asked:
    """What ``drift check`` was asked: the environment, the window and the policy to judge by."""

    env: str
    span: Window
    policy: DriftPolicy


@dataclass(frozen=True)
class _Found:
    """What the read transaction found for the window: the environment's gate policy, the
    version asked for (resolved), the versions that served with their labels, the segments
    holding their features, their judged predictions and their reference profiles."""

    gate: GatePolicy
    wanted: str | None
    served: list[dict[str, Any]]
    labels: dict[str, str]
    segments: list[dict[str, Any]]
    judged: dict[str, Judged]
    profiles: dict[str, tuple[StoredProfile, ReferenceProfile] | None]


def _outputs(
    ledger: Ledger, log: LogWindow, profiles: dict[str, ReferenceProfile]
) -> dict[str, Callable[[DriftPolicy], Signal]]:
    if not profiles:
        return {}
    with ledger.db.read() as conn:
        return {vid: _output_counts(conn, log, vid, p) for vid, p in profiles.items()}


def _finish(
    ledger: Ledger,
    *,
    asked: _Asked,
    found: _Found,
    outputs: Future[dict[str, Callable[[DriftPolicy], Signal]]],
) -> DriftCheck:
    env, span, policy, labels = asked.env, asked.span, asked.policy, found.labels
    result = DriftCheck(
        env, now(), span.since, span.until, span.text, policy, [],
    )  # fmt: skip
    if not found.served:
        wanted = found.wanted
        which = f" from {labels.get(wanted, wanted)}" if wanted else ""
        result.message = (
            f"no predictions{which} in {env} between {span.since} and {span.until}: "
            "insufficient data, not an all-clear"
        )
        return result
    from modelledger.drift.features import columns_of, version_view

    with served_traffic(ledger, found.segments, span.since, span.until) as con:
        present = columns_of(con, "served")
        for r in found.served:
            vid = r["version_id"]
            vd = VersionDrift(vid, labels[vid], int(r["n"]), None)
            result.versions.append(vd)
            version_view(con, view_name(vid), "served", vid)
            prof = found.profiles[vid]
            if prof is None:
                vd.signals.append(
                    Signal("reference", "profile", "insufficient",
                           no_profile_message(labels[vid], env))
                )  # fmt: skip
            else:
                vd.reference = prof[0]
                vd.signals += _inputs(con, vid, prof[1], present, policy)
            vd.signals += quality_signals(
                con, vid, found.judged[vid], gate=found.gate, policy=policy, since=span.since,
                until=span.until, present=present,
            )  # fmt: skip
    output_signals = outputs.result()
    for vd in result.versions:
        if vd.version_id in output_signals:
            vd.signals.append(output_signals[vd.version_id](policy))
    return result


def _label(conn: Any, version_id: str) -> str:
    found = versions.get(conn, version_id)
    return found.label if found else version_id


def _inputs(
    con: Any,
    version_id: str,
    profile: ReferenceProfile,
    present: dict[str, str],
    policy: DriftPolicy,
) -> list[Signal]:
    from modelledger.drift.features import binned_counts, non_null_counts, row_count, value_counts

    view = view_name(version_id)
    rows = row_count(con, view)
    signals: list[Signal] = []
    if rows == 0:
        return [
            Signal("input", "features", "insufficient",
                   "none of this version's predictions in the window logged features")
        ]  # fmt: skip
    known = [n for n in profile.features if n in present]
    counts = non_null_counts(con, view, known)
    for name, ref in profile.features.items():
        if name not in present or (counts.get(name, 0) == 0 and ref.non_null > 0):
            signals.append(disappeared(name, ref, rows))
    numeric = {
        n: profile.features[n].edges
        for n in known
        if profile.features[n].kind == "numeric" and counts[n] > 0
    }
    for name, (binned, nulls) in binned_counts(con, view, numeric).items():
        signals.append(
            distribution_signal("input", name, profile.features[name], binned, nulls, policy)
        )
    for name in known:
        ref = profile.features[name]
        if ref.kind == "categorical" and counts[name] > 0:
            found = category_counts(ref, value_counts(con, view, name))
            signals.append(
                distribution_signal(
                    "input", name, ref, found.counts, found.nulls, policy, new_categories=found.new
                )
            )
    return signals


def _output_counts(
    conn: Any, log: LogWindow, version_id: str, profile: ReferenceProfile
) -> Callable[[DriftPolicy], Signal]:
    """Read the outputs now (inside the read transaction); judge them later with the policy."""
    ref = profile.output
    assert ref is not None
    if ref.kind == "categorical":
        rows = drift_reads.output_counts(conn, log, version_id, OUTPUT_CATEGORIES) or []
        pairs = [(json_scalar(r["output_json"]), int(r["n"])) for r in rows]
        found = category_counts(ref, pairs)
        return lambda policy: distribution_signal(
            "output", "output", ref, found.counts, found.nulls, policy, new_categories=found.new
        )
    binned, others = drift_reads.output_bins(conn, log, version_id, ref.edges)
    return lambda policy: distribution_signal("output", "output", ref, binned, others, policy)


def json_scalar(text: str) -> Any:
    """A logged output as the scalar it holds (its JSON text when it is not one)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text
