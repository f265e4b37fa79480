"""The ledger's signing key: Ed25519, created by ``init``, kept in the home folder beside the
database and never in it (``.mledger/keys/ledger.key``, readable by its owner only). Whoever can
rewrite the database cannot also forge the checkpoints that were taken with it and kept elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelledger.core.errors import InvalidInput

KEY_FILE = Path("keys") / "ledger.key"


def key_path(home: Path | None) -> Path:
    if home is None:
        raise InvalidInput(
            "this ledger has no home folder to keep its signing key in: give --key FILE"
        )
    return home / KEY_FILE


def create(path: Path) -> bool:
    """Write a new key unless one is there; True when written."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a key another process wrote meanwhile
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def load(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(
            f"{path}: no ledger signing key; `mledger init` creates one (run it again here)"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise InvalidInput(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path}: not an Ed25519 key")
    return key


def public_key_file(path: Path) -> str:
    """``ed25519:<hex>`` from a public key: a PEM file, an OpenSSH line, or that text itself."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from modelledger.core.checkpoint import KEY_PREFIX

    text = path.read_text(encoding="utf-8").strip() if path.exists() else str(path)
    if text.startswith(KEY_PREFIX):
        return text
    try:
        if text.startswith("ssh-"):
            key: Any = serialization.load_ssh_public_key(text.encode())
        elif "PRIVATE KEY" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None).public_key()
        else:
            key = serialization.load_pem_public_key(text.encode())
    except ValueError as exc:
        raise InvalidInput(f"{path}: not a public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"{path}: not an Ed25519 key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + raw.hex()
