"""Answers given without loading Typer: ``mledger audit prediction REQUEST_ID --json``, whose
budget as a whole process (README, Measured) the framework's import alone would eat into.
Only that exact form is taken here; anything else — another flag, ``--help``, a typo — returns
None and goes through the full CLI, which gives the same answer with its usual help and errors."""

from __future__ import annotations

import sys


def answer(argv: list[str]) -> int | None:
    """The exit status after answering ``argv``, or None when the full CLI must answer it."""
    if len(argv) != 4 or argv[:2] != ["audit", "prediction"] or "--json" not in argv[2:]:
        return None
    import os

    if os.environ.get("MLEDGER_URL", "").strip():
        return None  # a registry server answers (the full CLI asks it)
    request_id = argv[3] if argv[2] == "--json" else argv[2]
    if request_id.startswith("-"):
        return None
    from modelledger.console.output import emit_json
    from modelledger.core.errors import MledgerError
    from modelledger.ledger.home import open_ledger
    from modelledger.predictions.audit import audit_prediction

    try:
        with open_ledger() as ledger:
            found = audit_prediction(ledger, request_id, one_shot=True)
    except MledgerError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    emit_json(found)
    return 0
