"""``mledger predictions publish``: the inference log as a Hive-partitioned Parquet dataset
inside the blob store, which DuckDB, Spark or Trino read where it lies.

Layout: ``<store>/datasets/predictions/env=ENV/date=YYYY-MM-DD/data.parquet``, the columns of
``predictions export`` (``predictions.export`` documents them). Each day is one file, replaced
whole (written beside it, then renamed; one PUT on an object store), so a reader sees a day as
it was or as it is, never half. A publish rewrites only the days from the last one published
on; ``--rebuild`` rewrites all. The dataset is derived from the ledger, which stays the record:
it can be deleted and published again, and ``predictions export`` writes the same rows anywhere
else.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelledger.ledger.home import Ledger
from modelledger.predictions.export import export

DATASET = "datasets/predictions"
_DAY = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Published:
    env: str
    root: str
    days: list[str]
    rows: int

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "root": self.root, "days": self.days, "rows": self.rows}


def dataset_root(ledger: Ledger) -> str:
    return f"{ledger.blobs.root}/{DATASET}"


def publish(
    ledger: Ledger,
    env: str,
    *,
    rebuild: bool = False,
    advance: Callable[[int], None] | None = None,
) -> Published:
    root = dataset_root(ledger)
    days = [] if rebuild else _days(ledger, root, env)
    since = f"{days[-1]}T00:00:00.000000Z" if days else None
    with tempfile.TemporaryDirectory(prefix="mledger-publish-") as tmp:
        out = Path(tmp, "dataset")
        done = export(ledger, env, out, since=since, advance=advance)
        written = []
        for part in done.partitions:  # env=ENV/date=D
            files = sorted((out / part).glob("*.parquet"))
            if not files:
                continue
            merged = _one_file(files, out / part)
            _put(ledger, merged, f"{root}/{part}/data.parquet")
            written.append(part.split("/")[-1].removeprefix("date="))
    return Published(env, root, written, done.rows)


def _one_file(files: list[Path], folder: Path) -> Path:
    """DuckDB may split a partition into several files; a day is published as one."""
    if len(files) == 1:
        return files[0]
    from modelledger.tabular import connect
    from modelledger.tabular.sql import literal

    target = folder / "merged.parquet.tmp"
    con = connect()
    try:
        sources = ", ".join(literal(str(f)) for f in files)
        con.execute(
            f"COPY (SELECT * FROM read_parquet([{sources}])) TO {literal(str(target))} "
            "(FORMAT PARQUET, COMPRESSION ZSTD)"
        )
    finally:
        con.close()
    return target


def _days(ledger: Ledger, root: str, env: str) -> list[str]:
    """The days of ``env`` published so far, oldest first."""
    folder = f"{root}/env={env}"
    if ledger.blobs.local:
        names = os.listdir(folder) if os.path.isdir(folder) else []
    else:
        fs = ledger.blobs.fs_and_root[0]
        names = (
            [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False)]
            if fs.exists(folder)
            else []
        )
    return sorted(m.group(1) for n in names if (m := _DAY.match(n)))


def _put(ledger: Ledger, source: Path, target: str) -> None:
    if ledger.blobs.local:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.tmp-{os.getpid()}"
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, target)  # a reader sees the day before or after, never half of it
        return
    fs = ledger.blobs.fs_and_root[0]
    fs.put_file(str(source), target)
