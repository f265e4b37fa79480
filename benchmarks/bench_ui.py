"""Server time of every web UI page (issue 21) on a large ledger: 10,000 versions, 1,000
environment moves and 1,000,000 logged predictions (SQLite, the ledger cached in .bench-cache/
like bench_audit's). Each page is asked in-process through the ASGI app, as a browser would ask
it (session cookie, whole HTML answer), warmed once, then timed; the median and the worst of
--runs are printed against the 300 ms target. (The drift report with charts is not a page of
the ledger but a computation over the window's traffic, as `mledger drift check` is: it is
left out, and bench_drift.py times that computation.)

    python benchmarks/bench_ui.py [--runs 7] [--fresh]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

from audit_fixture import Fixture, Plan, build

from modelledger.identity import manage, tokens
from modelledger.ledger import keys
from modelledger.ledger.home import now

TARGET_MS = 300.0
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench-cache"
PLAN = Plan(
    events=200_000, versions=10_000, predictions=1_000_000, promotions=1_000, batch_rows=1_000
)


def fixture(fresh: bool) -> Fixture:
    home = CACHE / f"ui-{PLAN.key}"
    found = None if fresh else Fixture.load(home)
    if found is not None:
        print(f"ledger: reusing {home.relative_to(ROOT)} (generated in {found.seconds:.0f} s)")
        return found
    if home.exists():
        import shutil

        shutil.rmtree(home)
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("# benchmark ledgers, not source\n*\n")
    print(f"ledger: generating {PLAN.versions:,} versions, {PLAN.promotion_count:,} moves, "
          f"{PLAN.predictions:,} predictions → {home}")  # fmt: skip
    return build(home, PLAN)


def reader_token(home: Path) -> str:
    """A reader's API token on the bench ledger (its identities made once)."""
    ledger = Fixture.load(home).ledger()  # type: ignore[union-attr]
    key_path = home / "admin.pem"
    if not key_path.exists():
        keys.create(key_path)
    admin = keys.load(key_path)
    if manage.directory(ledger).empty:
        manage.init_root(ledger, "admin", admin)
    return tokens.create(ledger, admin, "admin", ["read"]).secret


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--fresh", action="store_true", help="regenerate the ledger")
    args = parser.parse_args()
    fx = fixture(args.fresh)
    secret = reader_token(fx.home)
    ledger = fx.ledger()
    from modelledger.data.snapshot import list_snapshots
    from modelledger.models.reads import list_versions
    from modelledger.releases.environments import history
    from modelledger.server.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    newest = list_versions(ledger, None, 1)[0]
    moves = history(ledger, "production")
    snaps = [s for s in list_snapshots(ledger) if s.name.startswith("train")]
    derived = next(s for s in snaps if s.name == "train-dedup")
    middle = moves[len(moves) // 2]["at"]
    pages = {
        "overview": "/ui/",
        "version (newest)": f"/ui/versions/{newest.id}",
        "version (live)": f"/ui/versions/{moves[-1]['id']}",
        "snapshot": f"/ui/snapshots/{derived.id}",
        "diff": f"/ui/diff?a={snaps[0].id}&b={derived.id}",
        "environment (500 moves)": "/ui/environments/production",
        "environment live-at": f"/ui/environments/production?at={middle}",
        "requests": "/ui/requests?all=true",
        "audit log": "/ui/audit",
        "audit log, one kind": "/ui/audit?kind=promotion",
        "request id": f"/ui/predictions/{fx.request_id}",
        "drift alerts": "/ui/drift/production",
    }
    print(f"ledger: {fx.events:,} events, {fx.versions:,} versions, "
          f"{len(moves):,} moves in production, {fx.predictions:,} predictions; {now()}")  # fmt: skip
    worst_all = 0.0
    with TestClient(create_app(ledger)) as client:
        client.cookies.set("mledger_ui", secret, path="/ui")
        print(f"{'page':<26} {'median ms':>10} {'worst ms':>9}  (target ≤ {TARGET_MS:.0f} ms)")
        for name, path in pages.items():
            first = client.get(path)
            assert first.status_code == 200, (path, first.status_code, first.text[:300])
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                assert answer.status_code == 200
            worst = max(times)
            worst_all = max(worst_all, worst)
            print(
                f"{name:<26} {statistics.median(times):>10.1f} {worst:>9.1f}  {len(answer.content):>9,} bytes"
            )
    passed = worst_all <= TARGET_MS
    print(
        f"worst page: {worst_all:.1f} ms (target ≤ {TARGET_MS:.0f} ms) {'PASS' if passed else 'FAIL'}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
