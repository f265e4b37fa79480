"""Routing policy: which live arm serves a request, and which shadow arms also score it.

A request's sticky key (a feature value, or its request id) hashes to one of ``BUCKETS`` buckets;
the policy maps bucket ranges to arms. The hash is sha256, never Python's salted ``hash()``, so a
key lands in the same bucket in every process on every machine.

The bucket layout is stored in the policy itself rather than recomputed from percentages, because
that is what lets a change move as few users as possible: ``make_policy(..., previous=p)`` starts
from ``p``'s layout, and only the primary arm (the donor, which holds "the rest") gives or takes
buckets. Hence, between ``previous`` and the new policy:

* an arm whose share is unchanged keeps exactly the same buckets (and so the same users);
* an arm whose share rises keeps all its buckets and gains buckets that were the primary's;
* an arm whose share falls, or which is removed, gives its buckets up to the primary.

So raising one canary moves users from the primary to that canary and nobody else. Only when one
change raises arms by more than the primary held before do rising arms also take buckets that
removed or shrinking arms gave up, the one case where a user moves between two non-primary arms.

(A layout computed from the percentages alone would fix where each canary grows from, and such
anchors collide once several canaries grow; so the history lives in the policy, and its digest
pins who is routed where, not just how many.)
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any

from modelledger.core.canonical import canonical_json, digest
from modelledger.core.errors import InvalidInput
from modelledger.core.ids import is_id

BUCKETS = 10_000  # one bucket is 0.01 %, the finest share `route set` accepts
PRIMARY = "primary"

_PCT = re.compile(r"^\d+(\.\d+)?%?$")


def bucket(key: str) -> int:
    """The key's bucket in ``[0, BUCKETS)``: stable across processes, machines and Python versions."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % BUCKETS


def _pct(buckets: int) -> str:
    whole, frac = divmod(buckets, 100)
    return f"{whole}.{frac:02d}".rstrip("0").rstrip(".")  # exact: 99.5, not 99.49999999999999


@dataclass(frozen=True)
class Arm:
    name: str  # "primary", "canary-1", … — what a prediction record names as its arm
    ref: str  # a full mv-/sys- id; the service resolves human references before we see them
    buckets: int  # share of BUCKETS: 10 % is 1000

    @property
    def percent(self) -> float:
        return self.buckets / 100


@dataclass(frozen=True)
class RoutePolicy:
    arms: tuple[Arm, ...]  # arms[0] is the primary; canaries follow in order of first appearance
    ranges: tuple[tuple[int, int], ...]  # (start, index into arms), sorted; each runs to the next
    shadows: tuple[str, ...] = ()  # score every request, output never returned
    sticky_key: str | None = None  # feature name; None means the request id is the key
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Validated here so that a policy read back from storage is as trustworthy as a new one.
        if not self.arms or self.arms[0].name != PRIMARY:
            raise InvalidInput("route: the first arm must be the primary")
        refs = [a.ref for a in self.arms]
        for ref in refs + list(self.shadows):
            if not (is_id(ref, "mv") or is_id(ref, "sys")):
                raise InvalidInput(f"route: {ref!r} is not a model version or system id")
        for what, items in (("arm", refs), ("arm name", [a.name for a in self.arms])):
            if len(set(items)) != len(items):
                raise InvalidInput(f"route: duplicate {what} in {items}")
        if len(set(self.shadows)) != len(self.shadows):
            raise InvalidInput(f"route: duplicate shadow in {list(self.shadows)}")
        if both := sorted(set(refs) & set(self.shadows)):
            raise InvalidInput(f"route: {both[0]} cannot be both a live arm and a shadow")
        if any(a.buckets <= 0 for a in self.arms):
            raise InvalidInput("route: every live arm needs a share above 0 %")
        if (total := sum(a.buckets for a in self.arms)) != BUCKETS:
            raise InvalidInput(f"route: percentages sum to {_pct(total)}, not 100")
        if self.sticky_key is not None and not self.sticky_key.strip():
            raise InvalidInput("route: --sticky-key must name a field")
        starts = tuple(s for s, _ in self.ranges)
        counts = [0] * len(self.arms)
        for i, (start, arm) in enumerate(self.ranges):
            end = starts[i + 1] if i + 1 < len(starts) else BUCKETS
            # Adjacent ranges of one arm are refused too: one routing, one record, one digest.
            merged = i > 0 and self.ranges[i - 1][1] == arm
            if not 0 <= arm < len(self.arms) or end <= start or (i == 0 and start != 0) or merged:
                raise InvalidInput(f"route: bucket range {i} ({start}, arm {arm}) is malformed")
            counts[arm] += end - start
        if counts != [a.buckets for a in self.arms]:
            raise InvalidInput("route: bucket ranges do not match the arms' shares")
        object.__setattr__(self, "_starts", starts)

    def assign(self, key: str) -> Arm:
        """The live arm serving ``key``: one sha256 and one bisect, a microsecond or two."""
        return self.arm_at(bucket(key))

    def arm_at(self, b: int) -> Arm:
        return self.arms[self.ranges[bisect.bisect_right(self._starts, b) - 1][1]]

    def key_for(self, request_id: str, features: Mapping[str, Any]) -> str:
        """The sticky key of a request. A missing sticky field is an error, not a silent re-route."""
        if self.sticky_key is None:
            return request_id
        if self.sticky_key not in features:
            raise InvalidInput(f"route: request has no sticky-key field {self.sticky_key!r}")
        value = features[self.sticky_key]
        # Canonical JSON for non-strings so 7 and 7.0 stick together; strings as themselves.
        return value if isinstance(value, str) else canonical_json(value).decode("utf-8")

    def to_json(self) -> dict[str, Any]:
        return {
            "arms": [{"name": a.name, "ref": a.ref, "buckets": a.buckets} for a in self.arms],
            "ranges": [[start, arm] for start, arm in self.ranges],
            "shadows": list(self.shadows),
            "sticky_key": self.sticky_key,
            "buckets": BUCKETS,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RoutePolicy:
        try:
            if data.get("buckets", BUCKETS) != BUCKETS:
                raise InvalidInput(f"route: policy uses {data['buckets']} buckets, not {BUCKETS}")
            return cls(
                arms=tuple(
                    Arm(str(a["name"]), str(a["ref"]), int(a["buckets"])) for a in data["arms"]
                ),
                ranges=tuple((int(s), int(i)) for s, i in data["ranges"]),
                shadows=tuple(str(s) for s in data.get("shadows", ())),
                sticky_key=data.get("sticky_key"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"route: malformed policy record ({exc!r})") from exc

    def digest(self) -> str:
        return digest(self.to_json())


def parse_arms(items: Sequence[str]) -> list[tuple[str, float]]:
    """``REF=PCT`` items to (ref text, percent). Syntax only: the service resolves the refs."""
    out: list[tuple[str, float]] = []
    for item in items:
        ref, eq, pct = item.strip().rpartition("=")
        ref, pct = ref.strip(), pct.strip()
        if not eq or not ref:
            raise InvalidInput(f"--arm {item!r}: expected REF=PCT, e.g. fraud@7=10")
        if not _PCT.match(pct):
            raise InvalidInput(f"--arm {item!r}: {pct!r} is not a percentage")
        value = Decimal(pct.rstrip("%"))
        if not 0 < value <= 100:
            raise InvalidInput(f"--arm {item!r}: a share must be above 0 and at most 100")
        if (value * 100) % 1:
            raise InvalidInput(f"--arm {item!r}: at most 2 decimals (one bucket is 0.01 %)")
        if any(ref == seen for seen, _ in out):
            raise InvalidInput(f"--arm {item!r}: {ref} is given twice")
        out.append((ref, float(value)))
    return out


def make_policy(
    arms: Sequence[tuple[str, float]],
    shadows: Sequence[str],
    sticky_key: str | None,
    previous: RoutePolicy | None = None,
    primary: str | None = None,
) -> RoutePolicy:
    """A policy for resolved ids; with ``previous``, users move only to or from the primary.
    ``primary`` (the environment's live id) is the donor arm when ``previous`` has none live."""
    if not arms:
        raise InvalidInput("route: at least one live arm (--arm REF=PCT) is required")
    shares: dict[str, int] = {}
    for ref, pct in arms:
        if not 0 < pct <= 100:
            raise InvalidInput(f"route: {ref}={pct}: a share must be above 0 and at most 100")
        b = round(pct * 100)
        if abs(pct * 100 - b) > 1e-6:
            raise InvalidInput(f"route: {ref}={pct}: at most 2 decimals (one bucket is 0.01 %)")
        if ref in shares:
            raise InvalidInput(f"route: {ref} is given twice")
        shares[ref] = b
    if (total := sum(shares.values())) != BUCKETS:
        raise InvalidInput(f"route: percentages sum to {_pct(total)}, not 100")
    old = [a.ref for a in previous.arms] if previous else []
    # The primary stays the primary while it is live, so raising a canary past 50 % still takes
    # only from it; otherwise the largest share (first given on a tie) becomes the primary.
    if old and old[0] in shares:
        primary = old[0]
    elif primary is None or primary not in shares:
        primary = max(shares, key=lambda r: shares[r])
    canaries = [r for r in old if r in shares and r != primary]
    canaries += [r for r in shares if r != primary and r not in canaries]
    order = [primary, *canaries]
    owner = _layout(order, shares, previous)
    ranges = tuple((b, order.index(o)) for b, o in enumerate(owner) if b == 0 or owner[b - 1] != o)
    names = [PRIMARY] + [f"canary-{i}" for i in range(1, len(order))]
    return RoutePolicy(
        arms=tuple(Arm(n, r, shares[r]) for n, r in zip(names, order, strict=True)),
        ranges=ranges,
        shadows=tuple(sorted(shadows)),  # order carries no meaning, so keep it out of the digest
        sticky_key=sticky_key,
    )


def _layout(order: list[str], shares: dict[str, int], previous: RoutePolicy | None) -> list[str]:
    """Each bucket's arm: canaries keep what they had, and grow or shrink against the primary."""
    primary, canaries = order[0], set(order[1:])
    old = [previous.arm_at(b).ref for b in range(BUCKETS)] if previous else [primary] * BUCKETS
    # Free buckets come in two kinds: the primary's (None), which rising arms take first, and
    # those given up by removed or shrinking arms (""), which they take only when the primary's
    # previous share cannot cover every rise; whatever is left over goes to the primary.
    owner = [o if o in canaries else None if o == primary else "" for o in old]
    for ref in order[1:]:
        held = [b for b, o in enumerate(owner) if o == ref]
        for b in held[shares[ref] :]:  # a shrinking arm gives up its highest buckets
            owner[b] = ""
    for ref in order[1:]:
        held = [b for b, o in enumerate(owner) if o == ref]
        need, hi = shares[ref] - len(held), (held[-1] if held else -1)
        # Grow in place past the arm's last bucket, wrapping round; a new arm takes the lowest free.
        for free in (None, ""):
            for b in chain(range(hi + 1, BUCKETS), range(hi + 1)):
                if need == 0:
                    break
                if owner[b] == free:
                    owner[b], need = ref, need - 1
    return [o or primary for o in owner]
