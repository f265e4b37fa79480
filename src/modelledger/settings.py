"""The settings object: every ``MLEDGER_*`` environment variable modelledger reads."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MLEDGER_"


class Settings(BaseSettings):
    """``MLEDGER_HOME``, ``MLEDGER_DB_URL``, ``MLEDGER_BLOB_URL``, ``MLEDGER_USER``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    home: Path | None = None
    db_url: str | None = None
    blob_url: str | None = None
    user: str | None = None
