"""Run as a process by test_contract: registers N versions of one model into a shared ledger."""

import sys
from pathlib import Path

from modelledger.ledger.home import open_ledger
from modelledger.models.register import RegisterRequest, register
from modelledger.settings import Settings


def main(home: str, db_url: str, worker: int, count: int, artifact: str) -> None:
    ledger = open_ledger(Settings(home=Path(home), db_url=db_url or None, user=f"worker{worker}"))
    for i in range(count):
        register(
            ledger,
            RegisterRequest(
                name="nightly",
                artifact=Path(artifact),
                params={"worker": worker, "i": i},
                code_ref="git+https://example.com/train.git@abc123",
            ),
        )
    ledger.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
