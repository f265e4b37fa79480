"""A hypothesis state machine over the ledger: registrations (some with parents or base models,
some trained on a snapshot), snapshots, eval sets, promotions, rollbacks, retention changes and
gc runs, interleaved. After every step, nothing that must be kept has lost a byte (judged here
from the ledger's history, not by the planner under test); after a gc under a zero window,
everything else has been collected. On SQLite and PostgreSQL, and on a `memory://` store."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from modelledger.core.errors import CheckFailed
from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.evals.evaluate import create_eval_set
from modelledger.ledger import tombstones
from modelledger.ledger.home import Ledger, init_ledger, open_ledger
from modelledger.models.register import RegisterRequest, register
from modelledger.models.store import versions as version_store
from modelledger.releases import environments as envs
from modelledger.releases import store as env_store
from modelledger.releases.promote import promote
from modelledger.releases.rollback import rollback
from modelledger.retention.collect import gc, set_policy
from modelledger.retention.policy import parse_policy
from modelledger.settings import Settings
from tests.conftest import write

ZERO = {"keep_experiments_for": "0d", "keep_snapshots_for": "0d", "grace": "0d"}
LONG = {"keep_experiments_for": "30d", "keep_snapshots_for": "30d", "grace": "0d"}


def must_keep(ledger: Ledger) -> tuple[set[str], set[str]]:
    """(versions, snapshots) whose bytes must stay, from the rules as the docs state them."""
    with ledger.db.read() as conn:
        every = version_store.listing(conn, None, limit=None)
        live = env_store.ever_live(conn)
        from modelledger.evals import store as evals

        eval_sets = {s["id"] for s in evals.list_eval_sets(conn)}
    by_id = {v.id: v for v in every}
    keep = {v for v in live if v in by_id}
    for vid in list(keep):
        t = by_id[vid].tuple
        keep |= {x for x in (t.parent, t.base_model) if x in by_id}
    trained = {d.snapshot_id for vid in keep for d in by_id[vid].tuple.data}
    return keep, trained | eval_sets


class Estate(RuleBasedStateMachine):
    ledger: Ledger
    folder: object

    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count()
        self.versions: list[str] = []
        self.snapshots: list[str] = []
        self.zero = False

    def _file(self, text: str):
        return write(self.folder / uuid.uuid4().hex / "f.csv", text)

    @rule(size=st.integers(1, 3))
    def take_snapshot(self, size):
        n = next(self.counter)
        path = self._file(f"x\n{n}\n" * size)
        self.snapshots.append(
            snapshot(self.ledger, SnapshotRequest([path.parent], f"ds{n % 3}")).snapshot.id
        )

    @rule()
    def make_eval_set(self):
        n = next(self.counter)
        snap, _ = create_eval_set(self.ledger, f"ev{n % 2}", [self._file(f"e\n{n}\n").parent])
        self.snapshots.append(snap.snapshot.id)

    @rule(parent=st.booleans(), base=st.booleans(), trained=st.booleans())
    def register_version(self, parent, base, trained):
        n = next(self.counter)
        art = self._file(f"weights {n}\n")
        options = {"code_ref": "r", "seed": n}
        # one trains from bytes one has: a parent, base or data gc took cannot be trained from
        with self.ledger.db.read() as conn:
            gone = tombstones.subjects(conn)
        have = [v for v in self.versions if v not in gone]
        data = [s for s in self.snapshots if s not in gone]
        if parent and have:
            options["parent"] = have[-1]
        if base and len(have) > 1:
            options["base_model"] = have[0]
        if trained and data:
            options["data"] = [data[-1]]
        try:
            v = register(self.ledger, RegisterRequest.of(f"m{n % 2}", art, **options)).version
        except Exception as exc:  # a parent whose bytes went is still a parent: never refused
            raise AssertionError(f"registration refused: {exc}") from exc
        self.versions.append(v.id)

    @precondition(lambda self: bool(self.versions))
    @rule(pick=st.integers(0, 1000))
    def promote_one(self, pick):
        v = self.versions[pick % len(self.versions)]
        with self.ledger.db.read() as conn:
            gone = tombstones.collected(conn, v) is not None
            live = env_store.get(conn, "production")
        if live is not None and live.current_id == v:
            return
        if gone:  # a collected experiment cannot go live: its bytes are gone, and it says so
            with pytest.raises(CheckFailed, match="collected by gc"):
                promote(self.ledger, v, "production", "step")
            return
        promote(self.ledger, v, "production", "step")

    @rule()
    def roll_back(self):
        with self.ledger.db.read() as conn:
            moves = env_store.history(conn, "production")
        if len({m.subject_id for m in moves}) >= 2:
            rollback(self.ledger, "production", ["ops"], "step")

    @rule(zero=st.booleans())
    def change_retention(self, zero):
        set_policy(self.ledger, parse_policy(ZERO if zero else LONG))
        self.zero = zero

    @rule()
    def run_gc(self):
        if not self.ledger.blobs.local:  # an object store's least grace is an hour: let it pass
            from fsspec.implementations.memory import MemoryFileSystem

            for f in MemoryFileSystem.store.values():
                f.created -= timedelta(hours=2)
        done = gc(self.ledger, dry_run=False)
        if self.zero:
            versions, snaps = must_keep(self.ledger)
            with self.ledger.db.read() as conn:
                collected = tombstones.subjects(conn)
            for d in done.decisions:  # everything eligible went, now or before
                if d.item.id not in versions | snaps and d.item.blobs:
                    assert d.item.id in collected or not d.blobs, d.item.label

    @invariant()
    def nothing_kept_lost_a_byte(self):
        if not hasattr(self, "ledger"):
            return
        versions, snaps = must_keep(self.ledger)
        with self.ledger.db.read() as conn:
            for vid in versions:
                v = version_store.get(conn, vid)
                assert v is not None and self.ledger.blobs.has(v.tuple.artifact.sha256), vid
            from modelledger.data.store import snapshots as snap_store

            for sid in snaps:
                s = snap_store.get(conn, sid)
                assert s is not None and self.ledger.blobs.has(s.tree_sha256), sid
                for e in self.ledger.blobs.get_tree(s.tree_sha256).entries:
                    assert self.ledger.blobs.has(e.sha256), (sid, e.path)


def run_machine(subject: Ledger, folder) -> None:
    policy = write(folder / "unapproved.yaml", "approvers: 0\nfour_eyes: false\n")
    envs.create(subject, "production")
    envs.set_policy(subject, "production", policy)
    Estate.ledger = subject
    Estate.folder = folder / "files"
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        Estate,
        settings=settings(
            max_examples=2, stateful_step_count=14, deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )  # fmt: skip


def test_gc_never_collects_what_must_stay(ledger, tmp_path):
    run_machine(ledger, tmp_path)


def test_gc_never_collects_what_must_stay_on_an_object_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("MLEDGER_HOME", "MLEDGER_DB_URL", "MLEDGER_BLOB_URL"):
        monkeypatch.delenv(var, raising=False)
    init_ledger(tmp_path, blob_url=f"memory://gc-{uuid.uuid4().hex}")
    subject = open_ledger(Settings(home=tmp_path / ".mledger"))
    try:
        run_machine(subject, tmp_path)
    finally:
        subject.close()
