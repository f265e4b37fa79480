"""Incidents: the runbook of SCENARIOS.md as commands (open, contain, assess, diagnose, recover,
prevent), each step an event in the ledger's hash chain, and the timeline they make."""
