"""Reading model versions: show, list, lineage, verify, cards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelledger.core.errors import CheckFailed, InvalidInput, NotFound
from modelledger.data.store import snapshots
from modelledger.ledger import cards, events, tombstones
from modelledger.ledger.home import Ledger, now
from modelledger.models.resolve import resolve_version
from modelledger.models.store import labels, versions
from modelledger.models.version import ModelVersion, reproduction_of, retrain_flags


def get_version(ledger: Ledger, ref: str, *, latest: bool = False) -> ModelVersion:
    with ledger.db.read() as conn:
        version = versions.get(conn, resolve_version(conn, ref, latest=latest))
    assert version is not None
    return version


def show(ledger: Ledger, ref: str) -> dict[str, Any]:
    """The version with its current card revision, as data."""
    with ledger.db.read() as conn:
        version = versions.get(conn, resolve_version(conn, ref, latest=True))
        assert version is not None
        card = cards.latest(conn, "model", version.id)
        tags = labels.tags(conn, version.id)
        description = labels.description(conn, version.id)
        erasures = [(e["subject"], e["at"], e) for e in tombstones.erasures(conn)]
        tried = events.listing(conn, subject=version.id, kind="reproduction", limit=1)
    out = version.to_json()
    out["retrain"] = retrain_flags(version.id, erasures)
    out["reproduction"] = reproduction_of([(e.seq, e.at, e.payload) for e in tried])
    out["card"] = {"revision": card[0], **card[1]} if card else None
    out["tags"] = tags
    out["description"] = description
    return out


def list_versions(ledger: Ledger, name: str | None = None, limit: int = 100) -> list[ModelVersion]:
    with ledger.db.read() as conn:
        return versions.listing(conn, name, limit)


def lineage(ledger: Ledger, ref: str, max_depth: int = 50) -> dict[str, Any]:
    """Ancestry through parent and base-model links, the data each used, and direct children."""
    with ledger.db.read() as conn:
        start = versions.get(conn, resolve_version(conn, ref, latest=True))
        assert start is not None
        ancestors: list[dict[str, Any]] = []
        frontier: list[tuple[ModelVersion, int]] = [(start, 0)]
        seen = {start.id}
        while frontier:
            current, depth = frontier.pop(0)
            for relation, target in (
                ("parent", current.tuple.parent),
                ("base", current.tuple.base_model),
            ):
                if not target:
                    continue
                node: dict[str, Any] = {"of": current.id, "relation": relation, "depth": depth + 1}
                found = versions.get(conn, target) if target.startswith("mv-") else None
                if found is None:
                    node.update(id=target, external=True)
                else:
                    node.update(id=found.id, label=found.label, external=False)
                    if found.id not in seen and depth + 1 < max_depth:
                        seen.add(found.id)
                        frontier.append((found, depth + 1))
                ancestors.append(node)
        data = []
        for d in start.tuple.data:
            snap = snapshots.get(conn, d.snapshot_id)
            data.append({"id": d.snapshot_id, "role": d.role, "name": snap.name if snap else None})
        kids = versions.children(conn, start.id)
    return {
        "id": start.id,
        "label": start.label,
        "code": start.tuple.code.to_json() if start.tuple.code else None,
        "data": data,
        "ancestors": ancestors,
        "children": [{"id": k.id, "label": k.label} for k in kids],
    }


@dataclass(frozen=True)
class VerifyReport:
    version: ModelVersion
    checked: int
    bad: list[str]

    @property
    def ok(self) -> bool:
        return not self.bad

    def to_json(self) -> dict[str, Any]:
        """As ``model verify --json`` prints it."""
        return {
            "id": self.version.id,
            "label": self.version.label,
            "sha256": self.version.tuple.artifact.sha256,
            "ok": self.ok,
            "checked": self.checked,
            "problems": self.bad,
        }


def freshen(ledger: Ledger, version: ModelVersion) -> None:
    """Mark the artifact's bytes as just reused (``BlobStore.has_fresh``), a tree's files too,
    before a step that will name them (a promotion): gc then keeps them, or they are found gone."""
    from modelledger.core.errors import MledgerError

    art = version.tuple.artifact
    if ledger.blobs.has_fresh(art.sha256) and art.kind == "tree":
        try:
            entries = ledger.blobs.get_tree(art.sha256).entries
        except MledgerError:
            return  # verify names what is wrong with it
        for e in entries:
            ledger.blobs.has_fresh(e.sha256)


def verify(ledger: Ledger, ref: str) -> VerifyReport:
    """Re-hash the artifact (every file of a tree) against the sha256 the version pins."""
    version = get_version(ledger, ref, latest=True)
    art = version.tuple.artifact
    blobs = ledger.blobs
    bad: list[str] = []
    if not blobs.has(art.sha256):
        with ledger.db.read() as conn:
            gone = tombstones.collected(conn, version.id)
        if gone is not None:
            return VerifyReport(
                version, 0, [f"artifact sha256:{art.sha256}: {tombstones.note(gone)}"]
            )
        return VerifyReport(version, 0, [f"artifact sha256:{art.sha256} is missing from the store"])
    if not blobs.verify(art.sha256):
        return VerifyReport(version, 1, [f"artifact sha256:{art.sha256} does not match its bytes"])
    checked = 1
    if art.kind == "tree":
        for entry in blobs.get_tree(art.sha256).entries:
            checked += 1
            if not blobs.has(entry.sha256):
                bad.append(f"{entry.path}: missing (sha256:{entry.sha256})")
            elif not blobs.verify(entry.sha256):
                bad.append(f"{entry.path}: bytes do not match sha256:{entry.sha256}")
    return VerifyReport(version, checked, bad)


def require_verified(report: VerifyReport) -> None:
    if not report.ok:
        raise CheckFailed(f"{report.version.label} failed verification: " + "; ".join(report.bad))


def card(ledger: Ledger, ref: str) -> tuple[ModelVersion, int, dict[str, Any]]:
    with ledger.db.read() as conn:
        version = versions.get(conn, resolve_version(conn, ref, latest=True))
        assert version is not None
        found = cards.latest(conn, "model", version.id)
    if found is None:
        raise NotFound(
            f"{version.label} has no model card: attach one with `mledger model card {version.label} --set FILE`"
        )
    return version, found[0], found[1]


def card_json(ledger: Ledger, ref: str) -> dict[str, Any]:
    """As ``model card --json`` prints it."""
    version, revision, data = card(ledger, ref)
    return {"id": version.id, "label": version.label, "revision": revision, "card": data}


def amended_json(ledger: Ledger, ref: str, card_data: Any) -> dict[str, Any]:
    version, revision = amend_card(ledger, ref, card_data)
    return {"id": version.id, "label": version.label, "revision": revision}


def amend_card(ledger: Ledger, ref: str, card_data: Any) -> tuple[ModelVersion, int]:
    """Append a new card revision (the version itself never changes) and log the amendment."""
    from modelledger.models.card import validate_card  # pydantic: only when a card is written

    if card_data is None:
        raise InvalidInput("card: the file is empty")
    valid = validate_card(card_data)
    with ledger.db.write() as conn:
        version = versions.get(conn, resolve_version(conn, ref))
        assert version is not None
        at = now()
        revision = cards.add_revision(conn, "model", version.id, valid, at, ledger.user)
        events.append(
            conn, "model.card", version.id, ledger.user, at, {"revision": revision, "card": valid}
        )
    return version, revision
