"""Where a person's signing key is, and reading it: a PEM (PKCS 8) or OpenSSH Ed25519 key.

``--key FILE``, else ``$MLEDGER_KEY``, else ``~/.config/mledger/key.pem`` (``$XDG_CONFIG_HOME``
honoured). An encrypted key asks for its passphrase on the terminal, or reads
``$MLEDGER_KEY_PASSPHRASE`` where there is none.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from modelledger.core.errors import InvalidInput


def default_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "mledger" / "key.pem"


def key_path(given: str | os.PathLike[str] | None = None) -> Path:
    if given:
        return Path(given).expanduser()
    if env := os.environ.get("MLEDGER_KEY"):
        return Path(env).expanduser()
    return default_path()


def load_if_any(given: str | os.PathLike[str] | None = None) -> Any:
    """The key given, loaded; else the default one (``MLEDGER_KEY``, then the usual file) if it
    exists; else None."""
    if given is None and not key_path(None).exists():
        return None
    return load(given)


def load(given: str | os.PathLike[str] | None = None) -> Any:
    """The Ed25519 private key; InvalidInput saying how to make one when there is none."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path(given)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(
            f"{path}: no signing key; make one with `mledger identity keygen` (or give "
            "--key FILE / MLEDGER_KEY, an Ed25519 PEM or OpenSSH key)"
        ) from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a key file") from None
    loader = (
        serialization.load_ssh_private_key
        if data.lstrip().startswith(b"-----BEGIN OPENSSH")
        else serialization.load_pem_private_key
    )
    try:
        try:
            key = loader(data, password=None)
        except TypeError:  # encrypted
            key = loader(data, password=_passphrase(path))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{path}: not a readable private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path}: not an Ed25519 key (make one: `mledger identity keygen`)")
    return key


def _passphrase(path: Path) -> bytes:
    if text := os.environ.get("MLEDGER_KEY_PASSPHRASE"):
        return text.encode()
    if not sys.stdin.isatty():
        raise InvalidInput(f"{path} is encrypted: set MLEDGER_KEY_PASSPHRASE or run on a terminal")
    import getpass

    return getpass.getpass(f"passphrase for {path}: ").encode()


def generate(given: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """Write a new key where ``key_path`` points unless one is there: (path, written)."""
    from modelledger.ledger import keys

    path = key_path(given)
    return path, keys.create(path)
