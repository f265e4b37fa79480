"""The pure kernel every capability builds on: canonical JSON, ids, errors, clock, names, params,
references, event values, small statistics and strict documents. It imports nothing of ours."""
