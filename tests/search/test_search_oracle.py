"""The search query agrees with a plain Python reading of the conditions, for any mix of
hyperparameter conditions over versions whose params differ in type and presence."""

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelledger as ml
from modelledger.core.search_index import as_text
from modelledger.search.conditions import Condition, parse
from tests.conftest import write

KEYS = ["lr", "depth", "opt", "flag", "net.width"]
POOL = {
    "lr": [0.001, 0.01, 0.05, 0.1, 1, "auto"],
    "depth": [1, 2, 3, 8],
    "opt": ["adam", "sgd", "0.1"],
    "flag": [True, False],
    "net.width": [32, 64],
}


def _params(rng):
    out = {}
    for key in KEYS:
        if rng.random() < 0.75:
            value = rng.choice(POOL[key])
            if key == "net.width":
                out["net"] = {"width": value}
            else:
                out[key] = value
    return out


@pytest.fixture
def versions(ledger, project):
    rng = random.Random(11)
    made = {}
    for n in range(24):
        params = _params(rng)
        art = write(project / f"m{n}.bin", f"weights {n}")
        v = ml.register_model("m", art, params=params, code_ref=f"x@{n}", ledger=ledger)
        made[v.id] = v.tuple.params
    return ledger, made


def _leaves(params, prefix=""):
    for key, value in params.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _number(v):
    return isinstance(v, int | float) and not isinstance(v, bool)


def _holds(c: Condition, params) -> bool:
    leaves = dict(_leaves(params))
    if c.key not in leaves:
        return False
    got = leaves[c.key]
    if c.op is None:
        return True
    if c.numeric:
        if not _number(got):
            return c.op == "!="
        a, b = float(got), float(c.value)
        return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[c.op]
    same = not _number(got) and as_text(got) == as_text(c.value)
    return same if c.op == "=" else not same


def _typed(value):
    return value if isinstance(value, str) else json.dumps(value)


conditions = st.lists(
    st.builds(
        lambda key, op, value: key if op is None else f"{key}{op}{_typed(value)}",
        st.sampled_from(KEYS),
        st.sampled_from([None, "=", "!=", "<", "<=", ">", ">="]),
        st.sampled_from([0.01, 0.05, 1, 3, 64, "adam", "auto", "0.1", True]),
    ).filter(lambda text: not any(op in text for op in "<>") or text[-1].isdigit()),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=conditions)
def test_param_search_matches_the_python_reading(versions, texts):
    led, made = versions
    parsed = [c for t in texts for c in parse(t, "--param")]
    found = ml.search_versions(params=texts, limit=100, ledger=led)
    expected = {vid for vid, params in made.items() if all(_holds(c, params) for c in parsed)}
    assert {v.id for v in found} == expected, texts
    stamps = [(v.created_at) for v in found]
    assert stamps == sorted(stamps, reverse=True)
