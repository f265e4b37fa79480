"""The ``mledger`` entry point. A few answers have a budget smaller than loading the command-line
framework (Typer and Click, and the PostgreSQL driver they would pull in): those are answered by
``cli.fast`` without it; everything else goes to the Typer app in ``cli.root``."""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    from modelledger.cli import signals
    from modelledger.cli.fast import answer

    signals.install()  # SIGTERM cleans up as Ctrl-C does

    code = answer(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    from modelledger.cli.root import app

    app()


def __getattr__(name: str) -> Any:
    # ``from modelledger.cli.app import app`` (tests, docs) keeps working, loaded on demand
    if name == "app":
        from modelledger.cli.root import app

        return app
    raise AttributeError(name)


if __name__ == "__main__":
    main()
