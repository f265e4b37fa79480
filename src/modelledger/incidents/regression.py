"""PREVENT's rules: the failure cluster an assessment found becomes a regression case, a slice
of a new version of the gate's eval set that the gate then requires, and a known limitation on
the bad version's card. Pure: callers read the policy and the card and write what this returns.
"""

from __future__ import annotations

import re
from typing import Any

from modelledger.core.errors import InvalidInput

CASE_FOLDER = "regressions"
_SLICE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")


def slice_name(given: str | None, incident: str) -> str:
    name = given or incident
    # ``eval record --slice NAME:metric=value`` splits at the colon, so a name never has one
    if not _SLICE.fullmatch(name):
        raise InvalidInput(
            f"--slice {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter"
        )
    return name


def choose_place(assessed: dict[str, Any], rank: int) -> dict[str, Any]:
    places = assessed.get("places") or []
    if not places:
        raise InvalidInput(
            "the assessment found no place where the failures concentrate, so there is no "
            "failure cluster to keep: assess again over a wider --window once feedback is in"
        )
    if not 1 <= rank <= len(places):
        raise InvalidInput(f"--place {rank}: the assessment ranked {len(places)} place(s)")
    return dict(places[rank - 1])


def case_document(
    incident: str, env: str, version: dict[str, str], place: dict[str, Any], name: str
) -> dict[str, Any]:
    """The regression case kept in the eval set: where the failures were, and how many, so that
    the harness scoring the eval set knows which slice ``name`` is."""
    return {
        "format": "mledger-regression-case/1",
        "slice": name,
        "incident": incident,
        "env": env,
        "version_id": version["id"],
        "label": version["label"],
        "where": place["where"],
        "observed": {k: place[k] for k in ("n", "failures", "rate") if k in place},
    }


def case_path(name: str) -> str:
    return f"{CASE_FOLDER}/{name}.json"


def metric_and_floor(
    policy: dict[str, Any], metric: str | None, floor: float | None
) -> tuple[str, float]:
    """The metric the slice is held to (default: the gate's first metric rule) and its floor
    (default: the protected slices' floor, else that rule's)."""
    rules = {r["name"]: r for r in policy.get("metrics") or []}
    if metric is None:
        if not rules:
            raise InvalidInput(
                "the gate has no metric rules to hold the regression slice to: give --metric"
            )
        metric = next(iter(rules))
    slices = policy.get("protected_slices") or {}
    if floor is None:
        floor = slices.get("min")
    if floor is None:
        floor = (rules.get(metric) or {}).get("min")
    if floor is None:
        raise InvalidInput(f"no floor for {metric} on the regression slice: give --min")
    return metric, float(floor)


def with_regression_slice(
    policy: dict[str, Any], eval_set: str, name: str, metric: str, floor: float
) -> dict[str, Any]:
    """``policy`` scoring on ``eval_set`` and requiring slice ``name`` (``metric`` ≥ ``floor``).

    The gate has one floor for all its protected slices, so the stricter of the two is kept: a
    regression case never loosens what was already required."""
    rules = list(policy.get("metrics") or [])
    if metric not in {r["name"] for r in rules}:
        rules.append({"name": metric, "higher_is_better": True})
    slices = dict(policy.get("protected_slices") or {})
    names = list(slices.get("names") or [])
    if name not in names:
        names.append(name)
    old_floor = slices.get("min")
    slices["names"] = names
    slices["min"] = floor if old_floor is None else max(float(old_floor), floor)
    wanted = slices.get("metrics")
    if wanted is not None and metric not in wanted:
        slices["metrics"] = [*wanted, metric]
    return {**policy, "eval_set": eval_set, "metrics": rules, "protected_slices": slices}


def limitation(incident: str, env: str, place: dict[str, Any], given: str | None) -> str:
    if given:
        return given
    rate = place.get("rate")
    share = f"{rate:.0%} of {place['n']} failed" if rate is not None else "failures concentrate"
    return f"{place['where']}: {share} in {env} ({incident}); a regression slice of the gate now"


def amended_card(card: dict[str, Any] | None, text: str) -> dict[str, Any]:
    found = dict(card or {})
    known = list(found.get("known_limitations") or [])
    if text not in known:
        known.append(text)
    found["known_limitations"] = known
    return found
