"""Drift: reference profiles, checks of served traffic against them, alerts, baselines, explain,
and the HTML report."""
