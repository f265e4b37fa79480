"""Small statistics more than one capability shares: the Wilson interval for a proportion,
whether a feedback label equals a logged output, and the durations and instants that ``--since``,
``--window`` and a drift policy's bucket width are written in. Pure: the clock is handed in
(``parse_since`` takes ``now``).

- **Accuracy** is the share of predictions judged correct, with a 95% **Wilson score interval**
  (sound for small ``n`` and for shares near 0 or 1, unlike the normal approximation).
- **Label matching** is canonical JSON equality: ``1`` equals ``1.0``, key order is irrelevant,
  ``{"label": 1}`` does not equal ``1``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta

from modelledger.core.canonical import canonical_json
from modelledger.core.clock import format_time, parse_time
from modelledger.core.errors import InvalidInput

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile

# --- time windows ------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+)\s*(s|m|h|d|w)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, option: str) -> timedelta:
    """A positive duration: ``90s``, ``30m``, ``24h``, ``7d``, ``2w``."""
    found = _DURATION.fullmatch(text.strip())
    if not found or int(found.group(1)) == 0:
        raise InvalidInput(f"{option} {text!r}: expected a duration such as 30m, 24h, 7d or 2w")
    try:
        return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    except OverflowError:
        raise InvalidInput(f"{option} {text!r}: too long") from None


def parse_since(text: str, now: datetime, option: str = "--since") -> datetime:
    """An instant from ISO-8601 text (naive means UTC) or a duration back from ``now``: ``30m``,
    ``24h``, ``7d``, ``2w``, ``90s``. InvalidInput names ``option`` and the value."""
    value = text.strip()
    bad = InvalidInput(
        f"{option} {text!r}: expected an ISO-8601 time (2024-05-01T12:00:00Z) or a duration "
        "back from now (30m, 24h, 7d, 2w)"
    )
    if _DURATION.fullmatch(value):
        try:
            back = parse_duration(value, option)
        except InvalidInput:
            raise bad from None
        try:
            return now - back
        except OverflowError:
            raise InvalidInput(f"{option} {text!r}: too far back") from None
    if not value or not value[0].isdigit():
        raise bad
    try:
        return parse_time(value)
    except InvalidInput:
        raise bad from None


def time_bounds(
    since: str | None, until: str | None, now: datetime
) -> tuple[str | None, str | None]:
    """``--since`` and ``--until`` as ledger timestamps (sortable text), None where not given."""
    return (
        format_time(parse_since(since, now, "--since")) if since else None,
        format_time(parse_since(until, now, "--until")) if until else None,
    )


# --- proportions -------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for ``successes`` out of ``n``; always within [0, 1] and
    containing the observed share."""
    if n <= 0:
        raise ValueError("a proportion needs at least one observation")
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n}")
    share = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (share + z2 / (2 * n)) / denominator
    half = z * math.sqrt(share * (1.0 - share) / n + z2 / (4 * n * n)) / denominator
    # Rounding may leave the ends a hair outside [0, 1] or past the share itself.
    return max(0.0, min(centre - half, share)), min(1.0, max(centre + half, share))


# --- labels ------------------------------------------------------------------------------------


def label_matches(label_json: str, output_json: str) -> bool:
    """Whether a feedback label equals a logged output, as canonical JSON."""
    if label_json == output_json:
        return True
    return canonical_json(json.loads(label_json)) == canonical_json(json.loads(output_json))
