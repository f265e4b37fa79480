"""Where the ledger lives: the settings object (``MLEDGER_*`` environment variables), completed by
``.mledger/config.json`` (written by ``mledger init``) and then by defaults inside the home."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from modelledger.core.errors import InvalidInput, NoLedger

HOME_DIR = ".mledger"
CONFIG_FILE = "config.json"


class SettingsLike(Protocol):
    @property
    def home(self) -> Path | None: ...
    @property
    def db_url(self) -> str | None: ...
    @property
    def blob_url(self) -> str | None: ...
    @property
    def user(self) -> str | None: ...


@dataclass(frozen=True)
class EnvSettings:
    """The four ``MLEDGER_*`` variables of ``settings.Settings``, read straight from the
    environment. Importing pydantic-settings costs a large share of a read command's budget, and
    these are plain strings, so the CLI reads them the way pydantic-settings would (names
    case-insensitive, empty means unset) without paying for it. The Python API takes ``Settings``."""

    home: Path | None = None
    db_url: str | None = None
    blob_url: str | None = None
    user: str | None = None


_FIELDS = ("home", "db_url", "blob_url", "user")


def load_settings() -> SettingsLike | None:
    """The settings from the environment; None when no ``MLEDGER_*`` variable is set."""
    found = {
        key.upper().removeprefix("MLEDGER_").lower(): value
        for key, value in os.environ.items()
        if key.upper().startswith("MLEDGER_") and value
    }
    known = {k: v for k, v in found.items() if k in _FIELDS}
    if not known:
        return None
    home = known.pop("home", None)
    return EnvSettings(home=Path(home) if home else None, **known)


@dataclass(frozen=True)
class LedgerConfig:
    home: Path | None
    db_url: str
    blob_url: str
    user: str


def find_home(start: Path) -> Path | None:
    """The nearest ``.mledger/`` at or above ``start``, like git finds ``.git``."""
    for folder in (start, *start.parents):
        candidate = folder / HOME_DIR
        if candidate.is_dir():
            return candidate
    return None


def default_db_url(home: Path) -> str:
    return f"sqlite:///{home / 'ledger.db'}"


def default_blob_url(home: Path) -> str:
    return str(home / "blobs")


def read_home_config(home: Path) -> dict[str, str]:
    path = home / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc})") from None
    return {k: v for k, v in data.items() if isinstance(v, str)}


def current_user(settings: SettingsLike | None) -> str:
    if settings is not None and settings.user:
        return settings.user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _home_from_setting(given: Path) -> Path:
    """MLEDGER_HOME may name the ``.mledger`` folder itself or the project folder holding it."""
    home = given.expanduser().resolve()
    if home.name != HOME_DIR and (home / HOME_DIR).is_dir():
        home = home / HOME_DIR
    if not home.is_dir():
        raise NoLedger(f"MLEDGER_HOME={given} does not exist: run `mledger init`")
    return home


def resolve(settings: SettingsLike | None = None, cwd: Path | None = None) -> LedgerConfig:
    """Environment first, then the home's config file, then the defaults inside the home."""
    settings = settings or load_settings()
    cwd = cwd or Path(os.getcwd())
    env_db = settings.db_url if settings else None
    env_blobs = settings.blob_url if settings else None
    if settings is not None and settings.home is not None:
        home: Path | None = _home_from_setting(settings.home)
    else:
        home = find_home(cwd)
    stored = read_home_config(home) if home else {}
    db_url = env_db or stored.get("db_url") or (default_db_url(home) if home else None)
    blob_url = env_blobs or stored.get("blob_url") or (default_blob_url(home) if home else None)
    if db_url is None or blob_url is None:
        if db_url:
            raise NoLedger("MLEDGER_DB_URL is set but MLEDGER_BLOB_URL is not: set both")
        raise NoLedger(
            f"no ledger found in {cwd} or any parent folder: run `mledger init` "
            "(or set MLEDGER_HOME, or MLEDGER_DB_URL and MLEDGER_BLOB_URL)"
        )
    return LedgerConfig(home=home, db_url=db_url, blob_url=blob_url, user=current_user(settings))
