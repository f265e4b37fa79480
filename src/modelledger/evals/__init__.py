"""Evaluation: eval sets (snapshots with the eval role) and immutable results pinned to them."""
