"""Where the ledger lives. One settings object, read from ``MLEDGER_*`` environment variables,
completed by ``.mledger/config.json`` (written by ``mledger init``) and then by defaults."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from modelledger.domain.errors import InvalidInput, NoLedger

HOME_DIR = ".mledger"
CONFIG_FILE = "config.json"


class Settings(BaseSettings):
    """``MLEDGER_HOME``, ``MLEDGER_DB_URL``, ``MLEDGER_BLOB_URL``, ``MLEDGER_USER``."""

    model_config = SettingsConfigDict(env_prefix="MLEDGER_", extra="ignore")

    home: Path | None = None
    db_url: str | None = None
    blob_url: str | None = None
    user: str | None = None


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


def current_user(settings: Settings) -> str:
    if settings.user:
        return settings.user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def resolve(settings: Settings | None = None, cwd: Path | None = None) -> LedgerConfig:
    """Environment first, then the home's config file, then the defaults inside the home."""
    settings = settings or Settings()
    cwd = cwd or Path(os.getcwd())
    if settings.home is not None:
        home: Path | None = settings.home.expanduser().resolve()
        if home.name != HOME_DIR and (home / HOME_DIR).is_dir():
            home = home / HOME_DIR
        if not home.is_dir():
            raise NoLedger(f"MLEDGER_HOME={settings.home} does not exist: run `mledger init`")
    else:
        home = find_home(cwd)
    stored = read_home_config(home) if home else {}
    db_url = settings.db_url or stored.get("db_url") or (default_db_url(home) if home else None)
    blob_url = settings.blob_url or stored.get("blob_url") or (default_blob_url(home) if home else None)
    if db_url is None or blob_url is None:
        if db_url:
            raise NoLedger("MLEDGER_DB_URL is set but MLEDGER_BLOB_URL is not: set both")
        raise NoLedger(
            f"no ledger found in {cwd} or any parent folder: run `mledger init` "
            "(or set MLEDGER_HOME, or MLEDGER_DB_URL and MLEDGER_BLOB_URL)"
        )
    return LedgerConfig(home=home, db_url=db_url, blob_url=blob_url, user=current_user(settings))
