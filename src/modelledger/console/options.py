"""Typer options every command group shares. Apart from ``output`` because the fast path
(``cli/fast.py``) prints without loading Typer."""

from __future__ import annotations

import typer

from modelledger.console.output import JSON_HELP

JsonOpt = typer.Option(False, "--json", help=JSON_HELP)
SinceOpt = typer.Option(
    None, "--since", help="From this time (ISO 8601) or this long ago (24h, 7d)."
)
UntilOpt = typer.Option(
    None, "--until", help="Before this time (ISO 8601) or this long ago (24h, 7d)."
)
SigningKeyOpt = typer.Option(
    None,
    "--key",
    help="Your signing key (Ed25519 PEM or OpenSSH; default: $MLEDGER_KEY, then "
    "~/.config/mledger/key.pem).",
)
