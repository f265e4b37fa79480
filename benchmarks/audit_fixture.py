"""A large, internally consistent ledger for ``bench_audit.py``: versions, evals, tags, cards,
promotions and logged predictions, written through the store functions and ``events.append``
exactly as the use cases write them (so every row is bound to its event), but many to a write
transaction instead of one transaction per call.

What goes through the public use cases, one call each (they are few): snapshots (one derived by
a transform), eval sets, environments, promotions and prediction batches (``log_predictions``).
What goes through the store functions in large transactions (they are many): registrations
(``versions.insert_version`` + ``model.registered``, as ``register._insert``), model cards
(``cards.add_revision`` + ``model.card``), eval results (``evals.insert_result`` +
``eval.recorded``, as ``evaluate.record``), tags and descriptions (the event first, then the
row with its seq, as ``models/labels.py``; tags through prepared statements, see ``_set_tag``).

The tag budget fills the log to exactly the number of events asked for.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, update
from unapproved import create_unapproved

from modelledger.capture.hardware import capture_hardware
from modelledger.core import ids
from modelledger.core.clock import parse_time
from modelledger.data.snapshot import SnapshotRequest, snapshot
from modelledger.evals import store as evals
from modelledger.evals.evaluate import create_eval_set
from modelledger.evals.results import EvalResult, result_id
from modelledger.ledger import cards, events, proofs
from modelledger.ledger.home import Ledger, init_ledger, now, open_ledger
from modelledger.ledger.prepared import Prepared
from modelledger.ledger.schema import version_tags
from modelledger.models.card import validate_card
from modelledger.models.code import untracked_reason
from modelledger.models.register import RegisterRequest, register
from modelledger.models.store import labels, versions
from modelledger.models.version import ArtifactRef, CodeRef, DataRef, ModelVersion, VersionTuple
from modelledger.predictions.ingest import log_predictions
from modelledger.releases.promote import promote
from modelledger.settings import Settings

# bump when what is generated changes: cached ledgers of another layout are rebuilt
LAYOUT = 1
USERS = ("alice", "bob", "carol", "dave", "erin", "ci-bot")
TAG_KEYS = ("status", "owner", "team", "stage", "reviewed", "priority", "experiment", "ticket")
STATUS = ("candidate", "validated", "shadow", "released", "archived")
METRICS = ("auc", "accuracy", "f1", "log_loss", "precision", "recall")
ENVS = ("staging", "production")
SNAPSHOTS = 20  # training snapshots (plus one derived by a transform)
LOCKS = 40  # distinct lock files the versions share
PER_TXN = 50_000  # events per bulk write transaction


@dataclass(frozen=True)
class Plan:
    events: int
    versions: int
    predictions: int = 0
    evals_per_version: int = 2
    metrics: int = 4
    card_every: int = 10  # every Nth version has a model card
    description_every: int = 5
    promotions: int = 0  # 0: one per 1,000 versions (at least 4)
    batch_rows: int = 100  # predictions per log_predictions call
    seed: int = 18

    @property
    def key(self) -> str:
        text = json.dumps({**asdict(self), "layout": LAYOUT}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def promotion_count(self) -> int:
        return self.promotions or max(4, self.versions // 1000)


@dataclass
class Fixture:
    home: Path  # the project folder holding .mledger/
    events: int
    versions: int
    predictions: int
    half: Path  # a checkpoint taken once half the events existed
    half_size: int
    request_id: str | None  # a logged prediction, for a prediction proof
    seconds: float  # how long generating took

    def ledger(self) -> Ledger:
        return open_ledger(Settings(home=self.home / ".mledger"))

    def save(self) -> None:
        data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        (self.home / "fixture.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, home: Path) -> Fixture | None:
        path = home / "fixture.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["home"], data["half"] = Path(data["home"]), Path(data["half"])
        return cls(**data)


def _hex(rng: random.Random, n: int = 64) -> str:
    return f"{rng.getrandbits(n * 4):0{n}x}"


def _params(rng: random.Random, i: int) -> dict[str, Any]:
    """Ten hyperparameters of the kinds a training script logs."""
    return {
        "learning_rate": round(10 ** rng.uniform(-4, -1), 6),
        "max_depth": rng.randint(3, 12),
        "n_estimators": rng.choice((100, 200, 400, 800)),
        "subsample": round(rng.uniform(0.5, 1.0), 3),
        "colsample_bytree": round(rng.uniform(0.5, 1.0), 3),
        "min_child_weight": rng.randint(1, 10),
        "reg_lambda": round(rng.uniform(0, 5), 3),
        "objective": rng.choice(("binary:logistic", "binary:hinge")),
        "early_stopping": rng.random() < 0.7,
        "run": f"run-{i:07d}",
    }


class _Writer:
    """Writes the bulk events inside the caller's write transaction."""

    def __init__(self, plan: Plan, snaps: list[str], eval_sets: list[str]) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.snaps = snaps
        self.eval_sets = eval_sets
        self.hardware = capture_hardware()
        self.locks = [_hex(self.rng) for _ in range(LOCKS)]
        self.names = [f"model-{k:04d}" for k in range(max(1, plan.versions // 100))]
        self.numbers: dict[str, int] = {}
        self.last: dict[str, str] = {}  # name → its newest version, the next one's parent
        self.ids: list[str] = []
        self.tags: dict[str, dict[str, str]] = {}
        self.by: dict[str, str] = {}  # version → who registered it
        self.registered = 0

    def register(self, conn: Any) -> str:
        """One version as ``register._insert`` writes it, with its eval results and card."""
        rng, i = self.rng, self.registered
        name = self.names[i % len(self.names)]
        number = self.numbers[name] = self.numbers.get(name, 0) + 1
        data = [DataRef(self.snaps[i % len(self.snaps)], "train")]
        if rng.random() < 0.3:
            data.append(DataRef(self.eval_sets[0], "eval"))
        tuple_ = VersionTuple(
            name=name,
            artifact=ArtifactRef("blob", _hex(rng), rng.randint(1 << 16, 1 << 28)),
            code=CodeRef(
                kind="git",
                repo=f"git@git.example.com:ml/{name}.git",
                commit=_hex(rng, 40),
                dirty=rng.random() < 0.05,
                diff_sha256=None,
            ),
            data=tuple(sorted(set(data))),
            lock_sha256=rng.choice(self.locks),
            params=_params(rng, i),
            seed=i,
            parent=self.last.get(name) if rng.random() < 0.5 else None,
        )
        at = now()
        user = USERS[i % len(USERS)]
        manifest = {
            "registered_at": at,
            "hardware": self.hardware,
            "artifact_source": f"/srv/train/{name}/{number}/model.bin",
        }
        version = ModelVersion(
            id=tuple_.id,
            number=number,
            tuple=tuple_,
            created_at=parse_time(at),
            registered_by=user,
            manifest=manifest,
            irreproducible_reason=untracked_reason(manifest),
        )
        versions.insert_version(conn, version, at)
        payload = {
            "id": version.id,
            "name": name,
            "number": number,
            "artifact": ids.blob_ref(tuple_.artifact.sha256),
            "reproducibility": version.reproducibility.status,
        }
        events.append(conn, "model.registered", version.id, user, at, payload)
        if i % self.plan.card_every == 0:
            card = validate_card(
                {
                    "method": {"type": "gbdt", "objective": tuple_.params["objective"]},
                    "trained_on": data[0].snapshot_id,
                    "intended_use": f"scoring for {name}",
                    "known_limitations": ["trained on one region's traffic"],
                }
            )
            revision = cards.add_revision(conn, "model", version.id, card, at, user)
            events.append(
                conn, "model.card", version.id, user, at, {"revision": revision, "card": card}
            )
        for set_id in self.eval_sets[: self.plan.evals_per_version]:
            self._eval(conn, version.id, set_id, user)
        self.last[name] = version.id
        self.ids.append(version.id)
        self.tags[version.id] = {}
        self.by[version.id] = user
        self.registered += 1
        return version.id

    def candidate(self, ledger: Ledger, folder: Path, k: int) -> str:
        """A release candidate, registered by the use case with a real artifact: a promotion
        checks the artifact's bytes, which the bulk versions do not have."""
        name = self.names[k % len(self.names)]
        folder.mkdir(exist_ok=True)
        artifact = folder / f"candidate-{k}.bin"
        artifact.write_bytes(hashlib.sha256(f"weights {k}".encode()).digest() * 64)
        req = RegisterRequest(
            name=name,
            artifact=artifact,
            data=[DataRef(self.snaps[k % len(self.snaps)], "train")],
            params=_params(self.rng, k),
            seed=k,
            code_ref=f"git+https://git.example.com/ml/{name}@{_hex(self.rng, 40)}",
        )
        version = register(ledger, req).version
        self.numbers[name] = version.number
        self.last[name] = version.id
        self.ids.append(version.id)
        self.tags[version.id] = {}
        self.by[version.id] = version.registered_by
        return version.id

    def approver(self, version_id: str) -> str:
        """Someone other than the registrant (the gate's four eyes)."""
        return next(u for u in USERS[:-1] if u != self.by[version_id])

    def _eval(self, conn: Any, version_id: str, set_id: str, user: str) -> None:
        """As ``evaluate.record`` writes a new result."""
        rng = self.rng
        metrics = {m: round(rng.random(), 4) for m in METRICS[: self.plan.metrics]}
        slices = {"new_users": {"auc": round(rng.random(), 4)}} if rng.random() < 0.2 else {}
        rid = result_id(version_id, set_id, metrics, slices, None)
        at = now()
        result = EvalResult(rid, version_id, set_id, metrics, slices, None, at, user)
        evals.insert_result(conn, result)
        events.append(conn, "eval.recorded", version_id, user, at, result.to_json())

    def tag(self, conn: Any, version_id: str | None = None) -> None:
        """One tag change, as ``labels.tag`` writes it: the event, then the row with its seq."""
        rng = self.rng
        vid = version_id or self.ids[int(len(self.ids) * rng.random() ** 0.5)]  # newer: likelier
        current = self.tags[vid]
        key = rng.choice(TAG_KEYS)
        old = current.get(key)
        if old is not None and rng.random() < 0.05:
            new = None
        elif key == "status":
            new = rng.choice([s for s in STATUS if s != old])
        else:
            new = f"{key}-{rng.randrange(10_000)}"
            if new == old:
                new += "b"
        at, user = now(), rng.choice(USERS)
        payload = {"version": vid, "key": key, "old": old, "new": new}
        ev = events.append(conn, "model.tag", vid, user, at, payload)
        if new is None:
            labels.remove_tag(conn, vid, key)
            del current[key]
        else:
            _set_tag(conn, vid, key, new, at, user, ev.seq, key in current)
            current[key] = new

    def describe(self, conn: Any, version_id: str) -> None:
        at, user = now(), self.rng.choice(USERS)
        text = f"retrained on {self.snaps[0]} with a wider search over depth"
        payload = {"version": version_id, "old": None, "new": text}
        ev = events.append(conn, "model.description", version_id, user, at, payload)
        labels.set_description(conn, version_id, text, at, user, ev.seq)


_TAG = (version_tags.c.version_id == bindparam("v")) & (version_tags.c.key == bindparam("k"))
_TAG_UPDATE = Prepared(
    update(version_tags)
    .where(_TAG)
    .values({c: bindparam(c) for c in ("value", "at", "set_by", "event_seq")})
)
_TAG_INSERT = Prepared(insert(version_tags))


def _set_tag(
    conn: Any, vid: str, key: str, value: str, at: str, user: str, seq: int, known: bool
) -> None:
    """``labels.set_tag``'s UPDATE, or its INSERT when the version has no such tag, run as
    prepared statements: ``set_tag`` builds both statements on every call (0.5 ms, most of a
    tag change), too slow for the hundreds of thousands here. The row is the same (the table
    is replayed from the events, not bound)."""
    row = {"value": value, "at": at, "set_by": user, "event_seq": seq}
    if known:
        _TAG_UPDATE.run(conn, {"v": vid, "k": key, **row})
    else:
        _TAG_INSERT.run(conn, {"version_id": vid, "key": key, **row})


def _count(ledger: Ledger) -> int:
    with ledger.db.read() as conn:
        return events.count(conn)


def _files(folder: Path, rows: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = ["amount,country,age,label"]
    lines += [
        f"{rng.uniform(1, 2000):.2f},{rng.choice('abcde')},{rng.randint(18, 90)},{rng.randint(0, 1)}"
        for _ in range(rows)
    ]
    (folder / "part-0.csv").write_text("\n".join(lines) + "\n")
    return folder


def _records(version_id: str, n: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "version_id": version_id,
            "output": {"label": rng.randint(0, 1), "score": round(rng.random(), 4)},
            "confidence": round(rng.random(), 4),
            "latency_ms": round(rng.uniform(1, 20), 3),
            "features": {"amount": round(rng.uniform(1, 2000), 2), "age": rng.randint(18, 90)},
        }
        for _ in range(n)
    ]


def build(home: Path, plan: Plan, say: Callable[[str], None] = print) -> Fixture:
    """Generate the ledger in ``home`` (which must not hold one yet)."""
    t0 = time.perf_counter()
    home.mkdir(parents=True, exist_ok=True)
    init_ledger(home)
    ledger = open_ledger(Settings(home=home / ".mledger"))
    try:
        return _build(ledger, home, plan, say, t0)
    finally:
        ledger.close()


def _build(
    ledger: Ledger, home: Path, plan: Plan, say: Callable[[str], None], t0: float
) -> Fixture:
    rng = random.Random(plan.seed + 1)
    data = home / "data"
    snaps = [
        snapshot(
            ledger, SnapshotRequest([_files(data / f"train-{k}", 50, k)], f"train-{k}")
        ).snapshot.id
        for k in range(SNAPSHOTS)
    ]
    derived = snapshot(
        ledger,
        SnapshotRequest(
            [_files(data / "train-dedup", 40, 99)], "train-dedup", inputs=[snaps[0]], step="dedupe"
        ),
    )
    snaps.append(derived.snapshot.id)
    eval_sets = [
        create_eval_set(ledger, f"holdout-{k}", [_files(data / f"eval-{k}", 30, 100 + k)])[
            0
        ].snapshot.id
        for k in range(max(1, plan.evals_per_version))
    ]
    for env in ENVS:
        create_unapproved(ledger, env)
    writer = _Writer(plan, snaps, eval_sets)

    # what the use-case calls below append besides the bulk events
    batches = plan.predictions // plan.batch_rows if plan.predictions else 0
    per_version = 1 + plan.evals_per_version + 1 / plan.card_every + 1 / plan.description_every
    # + a candidate's registration per promotion, + the ledger.key event
    fixed = _count(ledger) + 2 * plan.promotion_count + batches + 1
    tag_budget = max(0, plan.events - fixed - round(plan.versions * per_version))
    chunks = max(2, round(plan.events / PER_TXN))  # two at least: the half checkpoint
    half: Path | None = None
    half_size = 0
    lives: dict[str, str] = {}  # environment → what is live there
    request_id: str | None = None
    promoted = batches_done = tags_done = 0
    for chunk in range(chunks):
        upto = plan.versions * (chunk + 1) // chunks
        tags_upto = tag_budget * (chunk + 1) // chunks
        with ledger.db.write() as conn:
            conn.connection.driver_connection.execute("PRAGMA cache_size=-524288")  # 512 MiB
            while writer.registered < upto:
                vid = writer.register(conn)
                writer.tag(conn, vid)  # its owner, team or status, at registration
                tags_done += 1
                if writer.registered % plan.description_every == 0:
                    writer.describe(conn, vid)
            while tags_done < tags_upto:
                writer.tag(conn)
                tags_done += 1
        # the few process-level calls, between the bulk transactions as they would happen
        for _ in range(plan.promotion_count * (chunk + 1) // chunks - promoted):
            env = ENVS[promoted % 2]
            target = writer.candidate(ledger, home / "artifacts", promoted)
            promote(ledger, target, env, reason="weekly release")
            lives[env] = target
            promoted += 1
        for _ in range(batches * (chunk + 1) // chunks - batches_done):
            live = lives.get("production")
            if live is None:
                live = lives["production"] = writer.candidate(ledger, home / "artifacts", promoted)
                promote(ledger, live, "production", reason="first")
                promoted += 1
            records = _records(live, plan.batch_rows, rng)
            records[0]["request_id"] = request_id = f"req-{batches_done:08d}"
            log_predictions(ledger, records, "production")
            batches_done += 1
        size = _count(ledger)
        say(
            f"  chunk {chunk + 1}/{chunks}: {size:,} events, {writer.registered:,} versions "
            f"({time.perf_counter() - t0:.0f} s)"
        )
        if half is None and size >= plan.events // 2:
            half = home / "half.checkpoint.json"
            document = proofs.take(ledger)
            half.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
            half_size = int(document["checkpoint"]["size"])
    # fill to exactly the number asked for with later tag changes
    missing = plan.events - _count(ledger)
    if missing > 0:
        with ledger.db.write() as conn:
            for _ in range(missing):
                writer.tag(conn)
    assert half is not None
    total = _count(ledger)
    fixture = Fixture(
        home=home,
        events=total,
        versions=writer.registered,
        predictions=batches_done * plan.batch_rows,
        half=half,
        half_size=half_size,
        request_id=request_id,
        seconds=time.perf_counter() - t0,
    )
    fixture.save()
    return fixture
