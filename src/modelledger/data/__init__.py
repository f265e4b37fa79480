"""Datasets: content-addressed snapshots, their lineage steps, checkout, diff, leakage and cards."""
