"""What a drift alert leaves behind: a ``drift_alert`` event per alerting signal, optionally a
``retrain_triggered`` event per version with the evidence, and a webhook POST of the same JSON
signed with HMAC-SHA256 (``X-Mledger-Signature: sha256=<hex>``, GitHub's convention) so the
receiver can tell it came from someone holding the secret."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import urllib.error
import urllib.request
from typing import Any

from modelledger.core.canonical import canonical_json
from modelledger.core.errors import InvalidInput, MledgerError
from modelledger.drift.check import DriftCheck
from modelledger.ledger import events
from modelledger.ledger.home import Ledger, now

SECRET_VARIABLE = "MLEDGER_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-Mledger-Signature"
_ATTEMPTS = 3


class WebhookFailed(MledgerError):
    """The webhook did not accept the alert (the events are recorded all the same)."""


def _evidence(signal: dict[str, Any]) -> dict[str, Any]:
    # the numbers that decided, not the charts' raw material
    details = {k: v for k, v in signal["details"].items() if k != "series"}
    return {k: v for k, v in signal.items() if k not in ("histogram", "details")} | {
        "details": details
    }


def alert_payloads(result: DriftCheck) -> list[dict[str, Any]]:
    out = []
    for version, signal in result.alerts():
        out.append(
            {
                "env": result.env,
                "version_id": version.version_id,
                "label": version.label,
                "signal": signal.kind,
                "window": {"since": result.since, "until": result.until},
                "policy": result.policy.summary()["sha256"],
                **_evidence(signal.to_json()),
            }
        )
    return out


def webhook_secret(url: str | None) -> str | None:
    """The signing secret; refused up front (before anything is recorded) when a webhook is
    asked for without one."""
    if url is None:
        return None
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"--webhook {url!r}: expected an http:// or https:// URL")
    secret = os.environ.get(SECRET_VARIABLE)
    if not secret:
        raise InvalidInput(
            f"--webhook needs a signing secret: set {SECRET_VARIABLE} in the environment"
        )
    return secret


def record(ledger: Ledger, result: DriftCheck, *, trigger_retrain: bool) -> dict[str, Any] | None:
    """Append the events for the check's alerts; the JSON a webhook gets (None: no alerts)."""
    alerts = alert_payloads(result)
    if not alerts:
        return None
    at = now()
    retrain: list[dict[str, Any]] = []
    with ledger.db.write() as conn:
        seqs: dict[str, list[int]] = {}
        for alert in alerts:
            ev = events.append(conn, "drift_alert", alert["version_id"], ledger.user, at, alert)
            seqs.setdefault(alert["version_id"], []).append(ev.seq)
            result.events.append(ev.seq)
        if trigger_retrain:
            for version in result.versions:
                if version.version_id not in seqs:
                    continue
                payload = {
                    "env": result.env,
                    "version_id": version.version_id,
                    "label": version.label,
                    "reason": "drift",
                    "window": {"since": result.since, "until": result.until},
                    "drift_alert_events": seqs[version.version_id],
                    "evidence": [a for a in alerts if a["version_id"] == version.version_id],
                }
                ev = events.append(
                    conn, "retrain_triggered", version.version_id, ledger.user, at, payload
                )
                result.events.append(ev.seq)
                retrain.append({"event": ev.seq, **payload})
    return {
        "kind": "drift_alert",
        "env": result.env,
        "checked_at": result.checked_at,
        "window": {"since": result.since, "until": result.until, "text": result.window_text},
        "status": result.status,
        "alerts": alerts,
        "retrain_triggered": retrain,
        "events": list(result.events),
    }


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post(url: str, payload: dict[str, Any], secret: str, timeout: float = 10.0) -> int:
    """POST the payload (canonical JSON) signed; retried on connection errors and 5xx. Returns
    the HTTP status; raises WebhookFailed when every attempt failed."""
    body = canonical_json(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "modelledger-drift",
        SIGNATURE_HEADER: signature(secret, body),
    }
    last = ""
    for attempt in range(_ATTEMPTS):
        if attempt:
            time.sleep(0.5 * 2 ** (attempt - 1))
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code < 500:
                break  # the receiver refused it; trying again will not change its mind
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
    raise WebhookFailed(f"webhook {url} did not accept the alert: {last} (events are recorded)")


def verify(secret: str, body: bytes, header: str) -> bool:
    """For receivers (and tests): does ``header`` sign ``body`` with ``secret``?"""
    return hmac.compare_digest(signature(secret, body), header)


__all__ = [
    "SECRET_VARIABLE",
    "SIGNATURE_HEADER",
    "WebhookFailed",
    "alert_payloads",
    "post",
    "record",
    "signature",
    "verify",
    "webhook_secret",
]
