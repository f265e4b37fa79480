"""``drift baseline``: a reference profile taken from what a version actually served, for
versions without tabular training data or to re-anchor after a shift the team accepted."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelledger.core.errors import InvalidInput, NotFound
from modelledger.drift.check import OUTPUT_CATEGORIES, json_scalar, served_in, window_of
from modelledger.drift.profile import ReferenceProfile, categorical_profile, numeric_profile
from modelledger.drift.profiles import profile_relation, store_profile
from modelledger.drift.store import reads as drift_reads
from modelledger.drift.traffic import overlapping_segments, served_traffic
from modelledger.ledger.home import Ledger
from modelledger.models.resolve import resolve_version
from modelledger.models.store import versions
from modelledger.releases.environments import require_env


def take_baseline(
    ledger: Ledger, env: str, *, window: str = "7d", version: str | None = None
) -> dict[str, Any]:
    span = window_of(window)
    with ledger.db.read() as conn:
        require_env(conn, env)
        wanted = resolve_version(conn, version) if version else None
        log, served = served_in(conn, env, span, wanted)
        if not served:
            raise NotFound(
                f"no served predictions in {env} between {span.since} and {span.until} to take "
                "a baseline from"
            )
        vid = served[0]["version_id"]
        found = versions.get(conn, vid)
        label = found.label if found else vid
        segments = overlapping_segments(conn, env, span.since, span.until)
        outputs = drift_reads.output_counts(conn, log, vid, OUTPUT_CATEGORIES)
        if outputs is not None:
            pairs = [(json_scalar(r["output_json"]), int(r["n"])) for r in outputs]
            output = categorical_profile(pairs)
        else:
            values = [_number(t) for t in drift_reads.output_values(conn, log, vid)]
            output = numeric_profile(np.asarray(values, dtype=np.float64))
    from modelledger.drift.features import columns_of, feature_names, row_count, version_view
    from modelledger.tabular.sql import is_numeric

    with served_traffic(ledger, segments, span.since, span.until) as con:
        version_view(con, "mine", "served", vid)
        types = columns_of(con, "mine")
        rows = row_count(con, "mine")
        kinds = {
            n: "numeric" if is_numeric(types[n]) else "categorical" for n in feature_names(types)
        }
        if not rows or not kinds:
            raise InvalidInput(f"{label}'s predictions in {env} logged no features to profile")
        features = profile_relation(con, "mine", kinds, rows)
    profile = ReferenceProfile(
        features=features,
        source={"kind": "traffic", "env": env, "since": span.since, "until": span.until},
        rows=rows,
        output=output,
    )
    stored = store_profile(ledger, vid, profile)
    return {
        "version_id": vid,
        "label": label,
        **stored.to_json(),
        "window": {"since": span.since, "until": span.until, "text": span.text},
    }


def _number(text: str) -> float:
    value = json_scalar(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float("nan")
