"""Run as a process by test_release: one promotion expecting a given live version.
Exit 0 when it won, 3 when it lost cleanly (Conflict), anything else is a bug."""

import sys
from pathlib import Path

from modelledger.core.errors import Conflict
from modelledger.ledger.home import open_ledger
from modelledger.settings import Settings
from tests.people import approved


def main(home: str, db_url: str, candidate: str, expect: str) -> int:
    ledger = open_ledger(Settings(home=Path(home), db_url=db_url or None, user="carol"))
    try:
        approved(ledger, candidate, "production", ["bob"], expect_live=expect)
    except Conflict:
        return 3
    finally:
        ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
