"""The demo's last chapters: a decomposed fine-tune (S7) and a composite RAG system whose reindex is
a new version (S11). The LLM parts are tiny deterministic stand-ins: what the ledger does with
them is the same for real checkpoints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from modelledger.cli.demo.common import Story, expect, run, say, short

PASSAGES = {
    "refunds.md": "Refunds are available within 30 days of delivery.",
    "late.md": "A late shipment is credited 10% of its freight.",
}
REINDEXED = {**PASSAGES, "new-routes.md": "New routes promise delivery within five days."}


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def _embed(text: str, dims: int = 16) -> list[float]:
    """The stand-in embedder: hashed character trigrams, normalised counts."""
    counts = [0] * dims
    for i in range(len(text) - 2):
        counts[hashlib.sha256(text[i : i + 3].encode()).digest()[0] % dims] += 1
    total = sum(counts) or 1
    return [round(c / total, 4) for c in counts]


def _build_index(story: Story, passages: dict[str, str]) -> str:
    from modelledger.data.snapshot import list_snapshots

    index = story.base / "index"
    _write(index / "passages.json", json.dumps(passages, indent=1, sort_keys=True))
    vectors = {doc: _embed(text) for doc, text in sorted(passages.items())}
    _write(index / "vectors.json", json.dumps(vectors, sort_keys=True))
    run("data", "snapshot", "index", "--name", "rag-index")
    return list_snapshots(story.ledger, "rag-index")[0].id


def finetune(story: Story) -> None:
    from modelledger.data.snapshot import list_snapshots

    say(
        "S7, a fine-tune: the vendor's base checkpoint pinned by hash (and frozen as "
        "irreproducible: its data is not ours), the fine-tuning data, and the adapter."
    )
    base = story.base / "checkpoints" / "tiny-llm"
    _write(base / "config.json", json.dumps({"layers": 2, "hidden": 8, "revision": "2026-02"}))
    _write(base / "weights.bin", hashlib.sha256(b"tiny-llm").digest() * 64)
    run("model", "register", "tiny-llm", "--artifact", "checkpoints/tiny-llm", "--irreproducible",
        "--reason", "vendor checkpoint: its training data is not ours to pin")  # fmt: skip
    pairs = [
        {"prompt": "Where is order 1001?", "answer": "In transit on a new route; due Friday."},
        {"prompt": "Can I get a refund?", "answer": "Yes, within 30 days of delivery."},
    ]
    _write(story.base / "finetune" / "pairs.jsonl", "".join(json.dumps(p) + "\n" for p in pairs))
    run("data", "snapshot", "finetune", "--name", "support-finetune")
    ds = list_snapshots(story.ledger, "support-finetune")[0].id
    _write(story.base / "adapter" / "adapter_config.json", json.dumps({"r": 8, "alpha": 16}))
    _write(story.base / "adapter" / "adapter.bin", hashlib.sha256(b"adapter").digest() * 16)
    adapter = ["model", "register", "support-adapter", "--artifact", "adapter",
               "--data", f"{short(ds)}:finetune", "--param", "method=lora", "--param", "r=8",
               "--seed", "7"]  # fmt: skip
    say("A floating base is refused: that is how the neighbouring team chased a ghost for a week.")
    run(*adapter, "--base-model", "tiny-llm", expect=2)
    run(*adapter, "--base-model", "tiny-llm@1")
    run("model", "lineage", "support-adapter@1")


def rag(story: Story) -> None:
    from modelledger.data.snapshot import list_snapshots
    from modelledger.models.systems import list_systems

    say("S11, a RAG assistant: embedder, index, prompt and generator pinned under one sys- id.")
    _write(story.base / "embedder" / "embedder.json", json.dumps({"trigrams": True, "dims": 16}))
    _write(story.base / "generator" / "generator.json", json.dumps({"stand_in": "quote passage"}))
    run("model", "register", "embedder", "--artifact", "embedder")
    run("model", "register", "generator", "--artifact", "generator")
    index = _build_index(story, PASSAGES)
    _write(story.base / "prompt" / "answer.txt", "Answer from the passage only.\n{passage}\n")
    run("data", "snapshot", "prompt", "--name", "rag-prompt")
    prompt = list_snapshots(story.ledger, "rag-prompt")[0].id

    def create(index_id: str) -> str:
        run("system", "create", "rag", "--component", "embedder=embedder@1",
            "--component", f"index={short(index_id)}", "--component", f"prompt={short(prompt)}",
            "--component", "generator=generator@1")  # fmt: skip
        return list_systems(story.ledger, "rag")[0].id

    first = create(index)
    say("The handbook gains a page and is reindexed: a new index snapshot, so a new system.")
    second = create(_build_index(story, REINDEXED))
    expect(first != second, "the reindex did not make a new system id")
    run("system", "diff", "rag@1", "rag@2")
