"""Opening and creating a ledger: the database, the blob store and who is acting."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from modelledger import config as cfg
from modelledger.core.clock import format_time
from modelledger.core.errors import InvalidInput
from modelledger.remote.session import Remote, refuse_local

if TYPE_CHECKING:
    import sqlite3

    from modelledger.blobs.hashcache import HashCache
    from modelledger.blobs.store import BlobStore
    from modelledger.ledger.db import Database


T = TypeVar("T")


@dataclass
class Ledger:
    config: cfg.LedgerConfig

    @functools.cached_property
    def db(self) -> Database:
        # Opened on first use: SQLAlchemy's import is dear, and a re-snapshot of
        # unchanged files answers from the hash cache and a stdlib-sqlite3 lookup without it.
        from modelledger.ledger.db import Database

        db = Database(self.config.db_url)
        try:
            db.ensure_schema()
        except BaseException:
            db.dispose()
            raise
        return db

    def quick(self, lookup: Callable[[sqlite3.Connection], T]) -> T | None:
        """``lookup`` run through the stdlib sqlite3 driver, sparing the SQLAlchemy import; None
        means "look properly" (not SQLite, already connected, or anything unexpected)."""
        if "db" in self.__dict__:
            return None  # already connected: the normal path is as cheap
        from modelledger.ledger.quick import read

        return read(self.config.db_url, lookup)

    @functools.cached_property
    def blobs(self) -> BlobStore:
        # Imported on first use: read-only commands never touch blobs and skip fsspec's import.
        from modelledger.blobs.store import BlobStore

        return BlobStore(self.config.blob_url)

    def hash_cache(self) -> HashCache | None:
        """The local file-hash cache, when the ledger has a home folder to keep it in."""
        if self.config.home is None:
            return None
        from modelledger.blobs.hashcache import HashCache, cache_path

        return HashCache(cache_path(self.config.home), self.config.blob_url)

    @property
    def user(self) -> str:
        return self.config.user

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
        if "blobs" in self.__dict__:
            self.blobs.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def now() -> str:
    return format_time(datetime.now(UTC))


def open_ledger(
    settings: cfg.SettingsLike | None = None, cwd: Path | None = None, *, serving: bool = False
) -> Ledger:
    """The ledger found as usual. Refused while ``MLEDGER_URL`` names a registry server (the
    command asked for does not go through it), except for a server opening its own
    (``serving``) or a caller naming ``settings`` itself."""
    if settings is None and not serving:
        refuse_local()
    return open_config(cfg.resolve(settings, cwd))


def read(path: str, local: Callable[[Ledger], Any], params: dict[str, Any] | None = None) -> Any:
    """A read answered by the registry server at ``path`` when ``MLEDGER_URL`` names one, else
    by ``local`` on the ledger found here: for a command whose JSON is the same both ways."""
    return call("GET", path, local, params=params)


def call(
    method: str,
    path: str,
    local: Callable[[Ledger], Any],
    body: Any = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """``read`` for any request: ``method path`` with the JSON ``body`` on the registry server,
    else ``local`` on the ledger found here."""
    remote = Remote.from_environment()
    if remote is not None:
        return remote.send(method, path, body, params=params)
    with open_ledger() as ledger:
        return local(ledger)


def open_config(config: cfg.LedgerConfig) -> Ledger:
    return Ledger(config)


@dataclass(frozen=True)
class InitResult:
    home: Path
    db_url: str
    blob_url: str
    created: bool
    hides: Path | None = None  # a new ledger inside another one's folder: the one it hides


def init_ledger(path: Path, db_url: str | None = None, blob_url: str | None = None) -> InitResult:
    """Create ``path/.mledger`` (idempotent) and bring the database schema up to date. The
    database and blob store are, in order: the arguments, ``MLEDGER_DB_URL`` /
    ``MLEDGER_BLOB_URL``, what an existing home recorded, the defaults inside the home."""
    home = path.resolve() / cfg.HOME_DIR
    created = not home.exists()
    stored = cfg.read_home_config(home) if not created else {}
    env = cfg.load_settings()
    db_url = db_url or (env.db_url if env else None) or stored.get("db_url")
    blob_url = blob_url or (env.blob_url if env else None) or stored.get("blob_url")
    db_url = db_url or cfg.default_db_url(home)
    blob_url = blob_url or cfg.default_blob_url(home)
    if not created:  # records name bytes in the store they were written to: never re-pointed
        for key, asked, default in (("db_url", db_url, cfg.default_db_url(home)),
                                    ("blob_url", blob_url, cfg.default_blob_url(home))):  # fmt: skip
            had = stored.get(key) or default
            if asked != had:
                what = "database" if key == "db_url" else "blob store"
                raise InvalidInput(
                    f"{home} already uses the {what} {had}; init does not move it to {asked} "
                    "(its records name what is there)"
                )
    from modelledger.blobs.urls import check_url

    check_url(blob_url)
    hides = cfg.find_home(home.parent.parent) if created else None
    from modelledger.ledger.db import Database

    database = Database(db_url)
    home.mkdir(parents=True, exist_ok=True)
    try:
        database.migrate()
    except Exception:
        if created:
            import shutil

            shutil.rmtree(home, ignore_errors=True)  # a failed init leaves nothing behind
        raise
    finally:
        database.dispose()
    (home / ".gitignore").write_text("# the ledger is not source code\n*\n", encoding="utf-8")
    settings = {"db_url": db_url, "blob_url": blob_url}
    defaults = {"db_url": cfg.default_db_url(home), "blob_url": cfg.default_blob_url(home)}
    custom = {k: v for k, v in settings.items() if v != defaults[k]}
    if custom:
        (home / cfg.CONFIG_FILE).write_text(json.dumps(custom, indent=2) + "\n", encoding="utf-8")
    if blob_url == defaults["blob_url"]:
        Path(blob_url).mkdir(exist_ok=True)
    from modelledger.ledger import keys

    keys.create(home / keys.KEY_FILE)  # signs checkpoints; outside the database on purpose
    return InitResult(home, db_url, blob_url, created, hides)
