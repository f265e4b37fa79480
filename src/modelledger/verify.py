"""Check a checkpoint or a proof without the ledger: ``python -m modelledger.verify FILE``.

Standard library and ``cryptography`` only, so an auditor can run it anywhere the files are:

- a checkpoint (``mledger audit checkpoint``): its signature;
- an inclusion proof (``mledger audit prove --event SEQ``): the event's hash follows from its
  contents, and the event is leaf SEQ of the tree the checkpoint signed;
- a prediction proof (``--request ID``): as above, and the row is a leaf of its batch's tree,
  whose root the event holds;
- a consistency proof (``--from OLD [--to NEW]``): the log NEW signed extends the one OLD signed.

``--public-key KEY`` (``ed25519:<hex>``, a PEM or OpenSSH public key file) requires that key;
without it the key's fingerprint is printed for you to compare. Exit 0 verified, 1 not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from modelledger.core import checkpoint as cp
from modelledger.core import merkle
from modelledger.core.events import chain_hash, event_body
from modelledger.core.rows import row_leaf


class Refused(Exception):
    pass


def _checkpoint(doc: Any, want_key: str | None) -> cp.Checkpoint:
    try:
        found = cp.read(doc)
    except cp.CheckpointError as exc:
        raise Refused(str(exc)) from None
    if want_key is not None and found.key != want_key:
        raise Refused(f"signed by key {found.fingerprint}, not by {cp.fingerprint(want_key)}")
    return found


def _path(doc: dict[str, Any], field: str) -> list[bytes]:
    return [bytes.fromhex(h) for h in doc[field]]


def _event_in(doc: dict[str, Any], point: cp.Checkpoint) -> dict[str, Any]:
    event = doc["event"]
    body = event_body(
        event["seq"], event["kind"], event["subject"], event["actor"], event["at"],
        event["payload"],
    )  # fmt: skip
    if chain_hash(event["prev_hash"], body) != event["hash"]:
        raise Refused(f"event {event['seq']}: its contents do not give its hash")
    index = int(doc["index"])
    if index != int(event["seq"]) - 1:
        raise Refused("the proof's index is not the event's place in the log")
    leaf = merkle.leaf_hash(bytes.fromhex(event["hash"]))
    if not merkle.verify_inclusion(
        leaf, index, point.size, _path(doc, "path"), bytes.fromhex(point.root)
    ):
        raise Refused(f"event {event['seq']} is not in the log the checkpoint signed")
    return dict(event)


def check(doc: dict[str, Any], want_key: str | None) -> list[str]:
    """What was verified, one line each; raises Refused."""
    if "signature" in doc and "checkpoint" in doc:
        point = _checkpoint(doc, want_key)
        return [f"checkpoint of {point.size} events at {point.at}, signed by {point.fingerprint}"]
    if doc.get("format") != "mledger-proof/1":
        raise Refused("neither a checkpoint nor a proof")
    kind = doc.get("type")
    if kind in ("inclusion", "prediction"):
        point = _checkpoint(doc["checkpoint"], want_key)
        event = _event_in(doc, point)
        lines = [
            f"event {event['seq']} ({event['kind']} {event['subject']}) is in the log of "
            f"{point.size} events signed by {point.fingerprint} at {point.at}"
        ]
        if kind == "prediction":
            row = doc["row"]
            log = event["payload"].get("log") or {}
            if int(doc["row_count"]) != int(log.get("rows", -1)):
                raise Refused("the proof's batch size is not the one the event recorded")
            leaf = row_leaf("predictions", row["values"])
            if not merkle.verify_inclusion(
                leaf, int(doc["row_index"]), int(doc["row_count"]), _path(doc, "row_path"),
                bytes.fromhex(str(log.get("root"))),
            ):  # fmt: skip
                raise Refused("the row is not one of the batch's rows")
            values = dict(zip(row["columns"], row["values"], strict=True))
            lines.append(
                f"prediction {values['request_id']} ({values['mode']}, {values['version_id']}) "
                f"is row {int(doc['row_index']) + 1} of that batch's {doc['row_count']}"
            )
        return lines
    if kind == "consistency":
        old, new = _checkpoint(doc["old"], want_key), _checkpoint(doc["new"], want_key)
        if old.ledger != new.ledger:
            raise Refused("the two checkpoints are of different ledgers")
        if not merkle.verify_consistency(
            old.size, new.size, bytes.fromhex(old.root), bytes.fromhex(new.root),
            _path(doc, "path"),
        ):  # fmt: skip
            raise Refused(f"the log of {new.size} events does not extend the one of {old.size}")
        return [
            f"the log of {new.size} events ({new.at}) extends the log of {old.size} ({old.at})",
            f"signed by {old.fingerprint} and {new.fingerprint}",
        ]
    raise Refused(f"unknown proof type {kind!r}")


def _key(text: str) -> str:
    if text.startswith(cp.KEY_PREFIX):
        return text
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = Path(text).read_bytes()
    key = (
        serialization.load_ssh_public_key(data)
        if data.startswith(b"ssh-")
        else serialization.load_pem_public_key(data)
    )
    if not isinstance(key, Ed25519PublicKey):
        raise Refused(f"{text}: not an Ed25519 public key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return cp.KEY_PREFIX + raw.hex()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelledger.verify",
        description="Check a modelledger checkpoint or proof without the ledger.",
    )
    parser.add_argument("file", type=Path, help="a checkpoint or proof (JSON)")
    parser.add_argument("--public-key", help="require this key: ed25519:<hex> or a key file")
    args = parser.parse_args(argv)
    try:
        doc = json.loads(args.file.read_text(encoding="utf-8"))
        want = _key(args.public_key) if args.public_key else None
        lines = check(doc, want)
    except (OSError, ValueError, KeyError, TypeError, Refused) as exc:
        print(f"NOT VERIFIED: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(f"ok: {line}")
    if want is None:
        print("note: pass --public-key to require the ledger's key; compare the fingerprint above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
