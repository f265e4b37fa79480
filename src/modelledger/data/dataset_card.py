"""Dataset cards (SCENARIOS.md "Cards"): what a snapshot holds, where it came from, what it must
not contain. Stored as revisions beside the immutable snapshot; its hash must be the snapshot's."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from modelledger.core.documents import Strict, parse_document
from modelledger.core.errors import InvalidInput


class Source(Strict):
    name: str = Field(min_length=1)
    owner: str | None = None
    license: str | None = None
    pii: bool | str | None = Field(default=None, description="false, true, or e.g. 'redacted'")
    generator: str | None = Field(default=None, description="human, or the model that wrote it")
    verified: bool | str | None = Field(default=None, description="human verification")


class Splits(Strict):
    rule: str | None = None
    train: float | None = Field(default=None, ge=0, le=1)
    val: float | None = Field(default=None, ge=0, le=1)
    test: float | None = Field(default=None, ge=0, le=1)


class DatasetCard(Strict):
    id: str | None = None
    hash: str | None = None
    sources: list[Source] = Field(default_factory=list)
    consent_basis: str | None = None
    labeler_instructions_version: str | None = None
    measured: dict[str, Any] = Field(default_factory=dict)
    splits: Splits | None = None
    excluded: list[str] = Field(
        default_factory=list, description="sources that must never be upstream of this data"
    )


def validate_dataset_card(data: Any, snapshot_id: str, tree_sha256: str) -> dict[str, Any]:
    """The card as canonical data, with ``id`` and ``hash`` filled in; InvalidInput when a field
    is malformed or the card describes different bytes than the snapshot holds."""
    card = parse_document(DatasetCard, data, "dataset card")
    content_hash = f"sha256:{tree_sha256}"
    if card.hash is not None and card.hash.removeprefix("sha256:") != tree_sha256:
        raise InvalidInput(
            f"dataset card hash {card.hash} does not match the snapshot's content hash "
            f"{content_hash}: the card describes other bytes"
        )
    if card.id is not None and card.id != snapshot_id:
        raise InvalidInput(f"dataset card id {card.id} is not this snapshot ({snapshot_id})")
    names = [s.name for s in card.sources]
    if len(set(names)) != len(names):
        raise InvalidInput("dataset card: a source is listed twice")
    out = card.model_dump(mode="json", exclude_none=True)
    out.update(id=snapshot_id, hash=content_hash)
    return out


def dataset_card_markdown(card: dict[str, Any]) -> str:
    lines = [f"# Dataset card: {card['id']}", "", f"Content hash: `{card['hash']}`", ""]
    if card.get("sources"):
        lines += ["## Sources", "", "| name | owner | license | pii | generator | verified |"]
        lines.append("|---|---|---|---|---|---|")
        for s in card["sources"]:
            cells = [
                s.get(k, "") for k in ("name", "owner", "license", "pii", "generator", "verified")
            ]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        lines.append("")
    for key in ("consent_basis", "labeler_instructions_version"):
        if card.get(key):
            lines += [f"## {key.replace('_', ' ').capitalize()}", "", str(card[key]), ""]
    for key in ("measured", "splits"):
        if card.get(key):
            lines += [f"## {key.capitalize()}", ""]
            lines += [f"- **{k}**: {v}" for k, v in card[key].items()]
            lines.append("")
    if card.get("excluded"):
        lines += ["## Excluded (do not train on this)", ""]
        lines += [f"- {name}" for name in card["excluded"]]
        lines.append("")
    return "\n".join(lines)
