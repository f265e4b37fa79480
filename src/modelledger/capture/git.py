"""The git state of the training code: repository, commit, and the diff when the tree is dirty.

Untracked files that git does not ignore count as changes: a training script that was never
``git add``-ed is code the commit does not hold. Their names, sizes and hashes are recorded, and
their contents go into the stored diff (as new files) up to :data:`UNTRACKED_DIFF_LIMIT` bytes in
all; what does not fit is named in ``left_out``, and the version is then irreproducible.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from modelledger.core.errors import InvalidInput

UNTRACKED_DIFF_LIMIT = 16 * 1024 * 1024  # bytes of untracked files kept in a stored diff


@dataclass(frozen=True)
class UntrackedFile:
    path: str  # relative to the work tree's root, with forward slashes
    size: int
    sha256: str

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class GitState:
    root: str
    repo: str
    commit: str
    changed: tuple[str, ...]  # tracked files that differ from the commit
    untracked: tuple[UntrackedFile, ...]  # not ignored, not in the commit
    diff: bytes  # `git diff HEAD --binary`, untracked files as new ones; empty when clean
    left_out: tuple[UntrackedFile, ...] = ()  # untracked files over the limit, not in the diff

    @property
    def dirty(self) -> bool:
        return bool(self.changed or self.untracked)

    @property
    def dirty_files(self) -> tuple[str, ...]:
        return self.changed + tuple(f"{f.path} (untracked)" for f in self.untracked)

    @property
    def dirty_listing(self) -> str:
        """The first few dirty files, for a message."""
        files = self.dirty_files
        return ", ".join(files[:5]) + (" …" if len(files) > 5 else "")


def _git(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, check=False, env=env, input=stdin
    )


def strip_credentials(url: str) -> str:
    """Remote URLs may embed tokens (https://user:token@host/…); never record them."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def _status(root: Path) -> tuple[list[str], list[str]]:
    """Changed tracked paths and untracked (not ignored) file paths, relative to ``root``."""
    out = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
    entries = out.decode("utf-8", "surrogateescape").split("\0")
    changed: list[str] = []
    untracked: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        if code == "??":
            untracked.append(path)
        else:
            changed.append(path)
            if code[0] in "RC":  # a rename or copy is followed by its source path
                i += 1
    return changed, untracked


def _excluded(path: Path, exclude: Iterable[Path]) -> bool:
    return any(path == e or e in path.parents for e in exclude)


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _untracked(
    root: Path, paths: list[str], exclude: Iterable[Path], hashed: bool
) -> list[UntrackedFile]:
    # compared as written and with links followed: a link inside the artifact is the artifact's
    skip = [Path(f(e)) for e in exclude for f in (os.path.abspath, os.path.realpath)]
    found = []
    for rel in sorted(paths):
        full = root / rel
        as_written = Path(os.path.abspath(full))
        if _excluded(as_written, skip) or _excluded(Path(os.path.realpath(full)), skip):
            continue  # the artifact, the lock, the ledger
        if not full.is_file():
            continue  # sockets, links to folders and such hold no code
        size, sha = _hash_file(full) if hashed else (full.stat().st_size, "")
        found.append(UntrackedFile(rel, size, sha))
    return found


def _diff(root: Path, with_new: list[UntrackedFile]) -> bytes:
    """The tree against HEAD, the untracked files ``with_new`` shown as new: made on a copy of
    the index, so the user's staging area is never touched."""
    if not with_new:
        return _git(root, "diff", "HEAD", "--binary").stdout
    index = Path(_git(root, "rev-parse", "--git-path", "index").stdout.decode().strip())
    index = index if index.is_absolute() else root / index
    with tempfile.TemporaryDirectory(prefix="mledger-index-") as tmp:
        # literal pathspecs: a file named like pathspec magic (":(glob)*") is just a file
        env = {
            **os.environ,
            "GIT_INDEX_FILE": str(Path(tmp) / "index"),
            "GIT_LITERAL_PATHSPECS": "1",
        }
        if index.exists():
            shutil.copyfile(index, env["GIT_INDEX_FILE"])
        else:
            _git(root, "read-tree", "HEAD", env=env)
        # the paths go on stdin: thousands of small files would overflow a command line
        paths = b"".join(os.fsencode(f.path) + b"\0" for f in with_new)
        added = _git(
            root, "add", "--intent-to-add", "--pathspec-from-file=-", "--pathspec-file-nul",
            env=env, stdin=paths,
        )  # fmt: skip
        if added.returncode != 0:
            raise InvalidInput(
                f"git could not list untracked files: {added.stderr.decode().strip()}"
            )
        return _git(root, "diff", "HEAD", "--binary", env=env).stdout


def capture_git(path: Path, exclude: Iterable[Path] = (), full: bool = True) -> GitState | None:
    """None when ``path`` is not inside a git work tree (or git is not installed). Untracked
    files at or under ``exclude`` (the artifact being registered, its lock, the ledger) are not
    code and are left out. ``full=False`` only says whether the tree is dirty and what changed:
    no hashes, no diff (a refusal needs neither)."""
    try:
        top = _git(path, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        return None
    if top.returncode != 0:
        return None
    root = top.stdout.decode().strip()
    head = _git(path, "rev-parse", "--verify", "-q", "HEAD")
    if head.returncode != 0:
        raise InvalidInput(f"git repository {root} has no commits yet: commit your code first")
    remote = _git(path, "config", "--get", "remote.origin.url").stdout.decode().strip()
    changed, untracked_paths = _status(Path(root))
    untracked = _untracked(Path(root), untracked_paths, exclude, hashed=full)
    kept: list[UntrackedFile] = []
    left_out: list[UntrackedFile] = []
    total = 0
    for f in untracked:
        if total + f.size <= UNTRACKED_DIFF_LIMIT:
            kept.append(f)
            total += f.size
        else:
            left_out.append(f)
    diff = _diff(Path(root), kept) if full and (changed or kept) else b""
    return GitState(
        root=root,
        repo=strip_credentials(remote) if remote else Path(root).as_uri(),
        commit=head.stdout.decode().strip(),
        changed=tuple(changed),
        untracked=tuple(untracked),
        diff=diff,
        left_out=tuple(left_out),
    )
