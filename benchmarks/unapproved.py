"""Environments that benchmarks promote into without approvals: promotion needs signed approvals
by known people otherwise, which is not what these benchmarks measure."""

from __future__ import annotations

import tempfile
from pathlib import Path

from modelledger.ledger.home import Ledger
from modelledger.releases import environments as envs


def create_unapproved(ledger: Ledger, env: str) -> None:
    """Create ``env`` with a policy that asks for no approval."""
    envs.create(ledger, env)
    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "policy.yaml"
        policy.write_text("approvers: 0\nfour_eyes: false\n")
        envs.set_policy(ledger, env, policy)
