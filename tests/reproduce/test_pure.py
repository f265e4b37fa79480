"""The pure parts of `mledger reproduce`: the recorded command, and the behavioural tests
checked against scipy."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelledger.models.training_command import argv_for, from_argv, from_shell, relative_cwd
from modelledger.reproduce.behaviour import compare_metrics, compare_outputs, ks_two_sample


def test_the_recorded_command_is_the_script_relative_to_where_it_ran():
    assert from_argv(["/w/p/train.py", "--x"], "/w/p") == {
        "python": ["train.py", "--x"],
        "cwd": "/w/p",
    }
    assert from_argv(["-c"], "/w") is None  # no script to run again
    assert from_argv(["/usr/bin/mledger", "demo"], "/w") is None  # a tool, not a script
    shell = from_shell("python3 train.py --lr 1", "/w/p/sub")
    assert argv_for(shell, "/venv/bin/python") == ["/venv/bin/python", "train.py", "--lr", "1"]
    assert relative_cwd(shell, "/w/p") == "sub" and relative_cwd(shell, "/elsewhere") is None


samples = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=20, max_size=80, unique=True)


@settings(max_examples=200, deadline=None)
@given(samples, samples)
def test_ks_matches_scipy(a, b):
    stats = pytest.importorskip("scipy.stats")
    d, p = ks_two_sample(a, b)
    ref = stats.ks_2samp(a, b, method="exact")
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, abs=0.07)  # asymptotic: closer as the samples grow


def test_outputs_alike_pass_and_shifted_ones_do_not():
    rng = random.Random(1)
    a = [rng.gauss(0, 1) for _ in range(400)]
    same = compare_outputs(a, [x + rng.gauss(0, 1e-9) for x in a])
    assert same["test"] == "ks" and same["ok"] and same["agreement"] == 0.0
    moved = compare_outputs(a, [x + 0.5 for x in a])
    assert not moved["ok"] and moved["p_value"] < 1e-6
    labels = compare_outputs([0, 1] * 50, [0, 1] * 50)
    assert labels["test"] == "chi_square" and labels["ok"] and labels["agreement"] == 1.0
    flipped = compare_outputs([0] * 90 + [1] * 10, [1] * 90 + [0] * 10)
    assert not flipped["ok"]


def test_metrics_within_the_tolerance():
    assert compare_metrics({"accuracy": 0.91}, {"accuracy": 0.905})["ok"]
    assert not compare_metrics({"accuracy": 0.91}, {"accuracy": 0.85})["ok"]
    assert not compare_metrics({"accuracy": 0.91}, {"f1": 0.9})["ok"]  # nothing to compare
