"""One pass over the event log for ``audit verify``: the hash chain, the RFC 6962 tree over the
events, and what the events say the other tables must hold (row bindings, labels, environments).

An event's leaf in the tree is its chain hash (32 bytes): the hash commits to the event's body and,
through ``prev_hash``, to everything before it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from sqlalchemy.engine import Connection

from modelledger.core import merkle
from modelledger.core.events import GENESIS, chain_hash, event_body

_STR = json.encoder.encode_basestring

# kinds whose payload the replay of mutable tables reads
# events that bring an environment into being: created, or first named by a policy or a move
ENV_KINDS = frozenset(
    {"env.created", "env.policy", "promotion", "promotion.override", "rollback", "route.set"}
)
REPLAYED = ENV_KINDS | {"model.tag", "model.description", "ledger.bound", "ledger.key"}


class Watched(NamedTuple):
    seq: int
    kind: str
    subject: str
    actor: str
    at: str
    payload: dict[str, Any]
    hash: str


@dataclass
class Walk:
    """What the pass found."""

    count: int = 0
    head: str = GENESIS
    first: str | None = None  # the first event's hash: names the ledger in its checkpoints
    broken: tuple[int, str] | None = None  # the first broken link: (seq, why)
    leaves: list[bytes] = field(default_factory=list)  # the tree's, one per event
    roots: dict[int, bytes] = field(default_factory=dict)  # tree size → root, as asked for

    def root(self) -> bytes:
        return merkle.root_of(self.leaves)

    # table → group key → (digest, seq of the event that bound it)
    bound: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    twice: list[tuple[str, str, int]] = field(default_factory=list)  # bound again, differently
    logs: dict[int, tuple[str, int]] = field(default_factory=dict)  # seq → (root, rows) of a batch
    legacy: dict[str, Any] | None = None  # the ledger.bound payload, for rows older than binding
    legacy_seq: int | None = None
    tags: dict[tuple[str, str], tuple[str | None, int, str, str]] = field(default_factory=dict)
    descriptions: dict[str, tuple[str | None, int, str, str]] = field(default_factory=dict)
    envs: dict[str, int] = field(default_factory=dict)  # environment → the event creating it
    keys: list[str] = field(default_factory=list)  # public keys the ledger recorded (ledger.key)
    # events of the kinds a caller's checks asked for
    watched: list[Watched] = field(default_factory=list)


def iter_rows(conn: Connection, batch: int = 20000) -> Iterator[tuple[Any, ...]]:
    """(seq, kind, subject, actor, at, payload_json, prev_hash, hash) in sequence order, read on
    the driver in key ranges."""
    raw = conn.connection.driver_connection
    assert raw is not None
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = (
        "SELECT seq, kind, subject, actor, at, payload_json, prev_hash, hash FROM events "
        f"WHERE seq > {mark} ORDER BY seq LIMIT {batch}"
    )
    after = 0
    while True:
        cur = raw.cursor()
        cur.execute(sql, (after,))
        rows = cur.fetchall()
        cur.close()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def has_events_table(conn: Connection) -> bool:
    from sqlalchemy import inspect

    return "events" in inspect(conn).get_table_names()


def walk(
    conn: Connection,
    sizes: set[int],
    advance: Callable[[int], None] | None = None,
    watch: frozenset[str] = frozenset(),
) -> Walk:
    """Check the chain and gather what the events bind. ``sizes``: tree sizes whose roots are
    wanted (those of checkpoints); ``watch``: kinds of event to hand back whole."""
    out = Walk()
    expected, prev, broken, first = 1, GENESIS, None, None
    add, sha, loads, enc, tags = out.leaves.append, hashlib.sha256, _loads, _STR, out.tags
    step = 0
    for seq, kind, subject, actor, at, payload_json, prev_hash, hash_ in iter_rows(conn):
        try:
            raw = bytes.fromhex(hash_)
        except ValueError:
            raw = hash_.encode()
        if broken is None:
            if seq != expected:
                broken = (expected, f"event {expected} is missing (found {seq} next)")
            elif prev_hash != prev:
                broken = (expected, "prev_hash does not match the previous event's hash")
            else:
                # canonical_json(event_body(…)) built from the stored payload text, which
                # events.append wrote canonically: no payload is parsed to check its hash
                body = (
                    f'{prev_hash}{{"actor":{enc(actor)},"at":{enc(at)},"kind":{enc(kind)},'
                    f'"payload":{payload_json},"seq":{seq},"subject":{enc(subject)}}}'
                )
                if sha(body.encode("utf-8")).digest() != raw and (
                    _careful(seq, kind, subject, actor, at, payload_json, prev_hash) != hash_
                ):
                    broken = (expected, "recorded contents do not match the event's hash")
            if first is None:
                first = hash_
        expected, prev = seq + 1, hash_
        add(sha(b"\x00" + raw).digest())  # merkle.leaf_hash, inline: once per event
        if kind in watch:
            out.watched.append(Watched(seq, kind, subject, actor, at, loads(payload_json), hash_))
        if kind == "model.tag" and '"bound":' not in payload_json:
            p = loads(payload_json)  # the commonest event there is: replayed here, inline
            tags[(p["version"], p["key"])] = (p.get("new"), seq, at, actor)
        elif kind in REPLAYED or '"bound":' in payload_json or '"log":' in payload_json:
            _gather(out, seq, kind, subject, actor, at, loads(payload_json))
        step += 1
        if advance is not None and step == 10000:
            advance(step)
            step = 0
    if advance is not None and step:
        advance(step)
    out.head, out.count, out.broken, out.first = prev, len(out.leaves), broken, first
    for size in sizes:
        if 0 < size <= out.count:
            out.roots[size] = merkle.root_of(out.leaves[:size])
    return out


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # e.g. an integer past 64 bits, which orjson does not read
        return json.loads(text)


def _careful(
    seq: int, kind: str, subject: str, actor: str, at: str, payload_json: str, prev_hash: str
) -> str:
    """By the definition: the payload parsed and written canonically (an older release may have
    stored it otherwise)."""
    try:
        payload = json.loads(payload_json)
    except ValueError:
        return ""
    return chain_hash(prev_hash, event_body(seq, kind, subject, actor, at, payload))


def _gather(
    out: Walk, seq: int, kind: str, subject: str, actor: str, at: str, payload: dict[str, Any]
) -> None:
    for table, groups in (payload.get("bound") or {}).items():
        mine = out.bound.setdefault(table, {})
        for key, digest in groups.items():
            known = mine.get(key)
            if known is None:
                mine[key] = (digest, seq)
            elif known[0] != digest:
                out.twice.append((table, key, seq))
    log = payload.get("log")
    if isinstance(log, dict):
        out.logs[seq] = (str(log.get("root")), int(log.get("rows", 0)))
    if kind == "model.tag":
        out.tags[(payload["version"], payload["key"])] = (payload.get("new"), seq, at, actor)
    elif kind == "model.description":
        out.descriptions[payload["version"]] = (payload.get("new"), seq, at, actor)
    elif kind in ENV_KINDS:
        out.envs.setdefault(subject, seq)
    elif kind == "ledger.bound":
        out.legacy, out.legacy_seq = payload, seq
    elif kind == "ledger.key":
        out.keys.append(str(payload.get("public_key")))
