"""``incident open``: DETECT recorded. An incident is opened from a drift alert (its version, its
time and its signal are the detection) or from a person's report (``--reason``: what is live
now, detected now)."""

from __future__ import annotations

from typing import Any

from modelledger.core.errors import Conflict, InvalidInput, NotFound
from modelledger.incidents import store
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now
from modelledger.models import deployables
from modelledger.releases.environments import require_env

_SIGNAL = ("signal", "name", "status", "value", "threshold")


def parse_source(text: str) -> int:
    kind, _, seq = text.partition(":")
    if kind != "drift_alert" or not seq.isdigit():
        raise InvalidInput(f"--from {text!r}: expected drift_alert:SEQ (the alert's event number)")
    return int(seq)


def open_incident(
    ledger: Ledger, env: str, source: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    reason = (reason or "").strip() or None
    if source is None and reason is None:
        raise InvalidInput('incident open needs --from drift_alert:SEQ or --reason "…"')
    alert_seq = parse_source(source) if source else None
    with ledger.db.write() as conn:
        state = require_env(conn, env)
        at = now()
        payload: dict[str, Any] = {"env": env, "reason": reason, "alert_event": alert_seq}
        if alert_seq is not None:
            alert = events.one(conn, alert_seq)
            if alert is None or alert.kind != "drift_alert":
                raise NotFound(f"event #{alert_seq} is not a drift alert (see `mledger audit log`)")
            if alert.payload.get("env") != env:
                raise InvalidInput(
                    f"drift alert #{alert_seq} is about {alert.payload.get('env')}, not {env}"
                )
            version_id = str(alert.payload["version_id"])
            payload["detected_at"] = alert.at
            payload["signal"] = {k: alert.payload.get(k) for k in _SIGNAL}
        else:
            if state.current_id is None:
                raise NotFound(f"nothing is live in {env}: there is no version to open it on")
            version_id = state.current_id
            payload["detected_at"] = at
        for other in store.all_incidents(conn, env):
            if not other.closed and other.version_id == version_id:
                raise Conflict(
                    f"{other.id} is already open for this version in {env} "
                    f"(opened {other.opened.at}): carry on with it"
                )
        payload["version_id"] = version_id
        payload["label"] = deployables.labels(conn, [version_id]).get(version_id)
        payload["live_id"] = state.current_id
        incident = store.next_id(conn)
        seq = store.record(conn, incident, "opened", ledger.user, at, payload)
    return {"incident": incident, "event": seq, "at": at, **payload}
