"""The dependency lock recorded with a version: a lock file, or the running interpreter's packages."""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

from modelledger.core.errors import InvalidInput
from modelledger.core.files import LOCK_LIMIT, read_bytes


def read_lock_file(path: Path) -> bytes:
    data = read_bytes(path, "--lock", LOCK_LIMIT)  # a regular file, size-bounded
    if not data.strip():
        raise InvalidInput(f"--lock {path}: the file is empty")
    return data


@functools.lru_cache(maxsize=1)
def frozen_environment() -> bytes:
    """`pip freeze`-style ``name==version`` lines for every installed distribution, sorted.

    Read from package metadata in-process (a `pip freeze` subprocess costs ~0.5 s); cached for the
    life of the process, since a training run does not change its own interpreter.
    """
    pins = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            pins.add(f"{name.lower().replace('_', '-')}=={dist.version}")
    return ("\n".join(sorted(pins)) + "\n").encode()
