"""Load one model in this process and report on stdout: ``python -m modelledger.models.load_check``.

    python -m modelledger.models.load_check LOADER PATH

prints exactly one JSON line on stdout and exits 0 when the model loads and can predict::

    {"ok": true, "interface": ["predict", "predict_proba"], "type": "module.Class", "seconds": 0.12}

or exits 1 (2 for bad usage) with ``{"ok": false, "error": "..."}``. Whatever the model's code
prints while loading goes to stderr (file descriptor 1 is pointed at 2 for the duration), so the
report stays the only line on stdout. ``loaders.load_in_subprocess`` is the parent side.
The artifact must already be verified: this never checks hashes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelledger.core.errors import MledgerError
from modelledger.models.loaders import check_interface, load_model, type_name

USAGE = "usage: python -m modelledger.models.load_check LOADER PATH"


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point fd 1 (and sys.stdout) at stderr until the block ends."""
    sys.stdout.flush()
    real = os.dup(1)
    os.dup2(2, 1)
    saved, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout.flush()
        saved.flush()  # anything written to the original object goes to stderr too
        sys.stdout = saved
        os.dup2(real, 1)
        os.close(real)


def check(loader: str, path: Path) -> dict[str, Any]:
    """Load and inspect; the success report. Raises LoadFailed (or InvalidInput for the loader)."""
    started = time.perf_counter()
    model = load_model(loader, path)
    interface = check_interface(model)
    return {
        "ok": True,
        "interface": interface,
        "type": type_name(model),
        "seconds": round(time.perf_counter() - started, 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(json.dumps({"ok": False, "error": USAGE}), flush=True)
        return 2
    with _stdout_to_stderr():
        try:
            report, code = check(args[0], Path(args[1])), 0
        except MledgerError as exc:
            report, code = {"ok": False, "error": str(exc)}, exc.exit_code
    print(json.dumps(report), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
