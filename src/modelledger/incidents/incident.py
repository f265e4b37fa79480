"""An incident (SCENARIOS.md, the incident runbook) as the replay of its events: each runbook step
is an ``incident.<step>`` event whose subject is the incident id, so the ledger's hash chain is
the incident's only record. Pure: the store hands in the events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelledger.core.clock import parse_time
from modelledger.core.errors import InvalidInput
from modelledger.core.events import Event

# the runbook's order; DETECT is the alert (or the report) an incident is opened from
STEPS = ("opened", "contained", "assessed", "diagnosed", "recovered", "prevented")
COMMANDS = dict(
    zip(STEPS, ("open", "contain", "assess", "diagnose", "recover", "prevent"), strict=True)
)
KIND_PREFIX = "incident."
CAUSES = ("data", "drift", "forgetting", "scope")
_ID = re.compile(r"^(?:inc-)?([1-9][0-9]{0,8})$")


def incident_id(number: int) -> str:
    return f"inc-{number}"


def parse_incident_id(text: str) -> str:
    """``inc-3`` or ``3`` → ``inc-3``."""
    found = _ID.fullmatch(text.strip())
    if found is None:
        raise InvalidInput(f"{text!r} is not an incident id: expected inc-N (see `incident list`)")
    return incident_id(int(found.group(1)))


@dataclass(frozen=True)
class Entry:
    """One recorded step."""

    seq: int
    step: str
    at: str
    actor: str
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.seq,
            "step": self.step,
            "at": self.at,
            "actor": self.actor,
            **self.payload,
        }


@dataclass(frozen=True)
class Incident:
    id: str
    entries: tuple[Entry, ...]  # in chain order; the first is ``opened``

    @property
    def opened(self) -> Entry:
        return self.entries[0]

    @property
    def env(self) -> str:
        return str(self.opened.payload["env"])

    @property
    def version_id(self) -> str:
        """The bad version: what was live (or alerted on) when the incident was opened."""
        return str(self.opened.payload["version_id"])

    @property
    def detected_at(self) -> str:
        return str(self.opened.payload["detected_at"])

    def latest(self, step: str) -> Entry | None:
        found = [e for e in self.entries if e.step == step]
        return found[-1] if found else None

    def done(self, step: str) -> bool:
        if step == "recovered":  # recovery is done when its canary is set, not its shadow
            return any(e.step == step and e.payload.get("stage") == "canary" for e in self.entries)
        return self.latest(step) is not None

    @property
    def status(self) -> str:
        """The furthest step done; ``prevented`` closes the incident."""
        return next(s for s in reversed(STEPS) if self.done(s))

    @property
    def closed(self) -> bool:
        return self.done("prevented")


def replay(incident: str, events: Iterable[Event]) -> Incident:
    entries = tuple(
        Entry(e.seq, e.kind.removeprefix(KIND_PREFIX), e.at, e.actor, e.payload)
        for e in events
        if e.kind.startswith(KIND_PREFIX) and e.subject == incident
    )
    if not entries or entries[0].step != "opened":
        raise ValueError(f"{incident}: its events do not start with incident.opened")
    return Incident(incident, entries)


def require_step(incident: Incident, step: str) -> None:
    """A step may be taken (again) once the one before it is done, until the incident closes."""
    if incident.closed:
        when = incident.latest("prevented")
        assert when is not None
        raise InvalidInput(f"{incident.id} is closed: its prevention was recorded at {when.at}")
    before = STEPS[STEPS.index(step) - 1]
    if not incident.done(before):
        detail = " (its canary)" if before == "recovered" and incident.latest(before) else ""
        raise InvalidInput(
            f"{incident.id} is not {before}{detail} yet: run `mledger incident {COMMANDS[before]} "
            f"{incident.id}` first (the runbook's order)"
        )


def seconds_between(earlier: str, later: str) -> float:
    return (parse_time(later) - parse_time(earlier)).total_seconds()


def timeline(incident: Incident) -> list[dict[str, Any]]:
    """Detection, then every recorded step, each with the time since the one before it and
    since detection."""
    rows: list[dict[str, Any]] = [
        {
            "step": "detected",
            "at": incident.detected_at,
            "event": incident.opened.payload.get("alert_event"),
            "since_previous_s": None,
            "since_detection_s": 0.0,
        }
    ]
    for e in incident.entries:
        rows.append(
            {
                "step": e.step,
                "at": e.at,
                "event": e.seq,
                "actor": e.actor,
                "since_previous_s": seconds_between(rows[-1]["at"], e.at),
                "since_detection_s": seconds_between(incident.detected_at, e.at),
                "summary": summary(e),
            }
        )
    return rows


def summary(e: Entry) -> str:
    """A step in one line, from what its event recorded."""
    p = e.payload
    if e.step == "opened":
        said = [p["reason"]] if p.get("reason") else []
        if p.get("alert_event"):
            s = p.get("signal") or {}
            what = " ".join(str(s[k]) for k in ("signal", "name", "status") if s.get(k))
            said.insert(0, f"drift_alert #{p['alert_event']}" + (f" ({what})" if what else ""))
        return "; ".join([f"{p['env']}: {p.get('label') or p['version_id']}", *said])
    if e.step == "contained":
        return f"rolled back {p['from_label']} → {p['to_label']} after rehearsal #{p['rehearsal']}"
    if e.step == "assessed":
        top = p["places"][0]["where"] if p.get("places") else "no place stands out"
        return f"{p['failures']} failures of {p['judged']} judged; top: {top}"
    if e.step == "diagnosed":
        return f"cause {p['cause']}: {p['evidence'].get('summary', '')}"
    if e.step == "recovered":
        share = f" at {p['percent']:g} %" if p.get("percent") else ""
        return f"{p['stage']} {p['label']}{share} (gate passed)"
    if e.step == "prevented":
        return (
            f"slice {p['slice']} ({p['where']}) required: {p['metric']} ≥ {p['min']:g} on "
            f"{p['eval_set']['to'][:15]}; card of {p['card']['label']} amended"
        )
    return ""


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"
