"""The git state of the training code: repository, commit, and the diff when the tree is dirty."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from modelledger.core.errors import InvalidInput


@dataclass(frozen=True)
class GitState:
    root: str
    repo: str
    commit: str
    dirty_files: tuple[str, ...]
    diff: bytes  # `git diff HEAD --binary`, empty when clean
    untracked: int

    @property
    def dirty(self) -> bool:
        return bool(self.dirty_files)


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)


def strip_credentials(url: str) -> str:
    """Remote URLs may embed tokens (https://user:token@host/…); never record them."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def capture_git(path: Path) -> GitState | None:
    """None when ``path`` is not inside a git work tree (or git is not installed)."""
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
    status = _git(path, "status", "--porcelain", "--untracked-files=normal").stdout.decode()
    tracked, untracked = [], 0
    for line in status.splitlines():
        if line.startswith("??"):
            untracked += 1
        elif line.strip():
            tracked.append(line[3:])
    diff = _git(path, "diff", "HEAD", "--binary").stdout if tracked else b""
    return GitState(
        root=root,
        repo=strip_credentials(remote) if remote else Path(root).as_uri(),
        commit=head.stdout.decode().strip(),
        dirty_files=tuple(tracked),
        diff=diff,
        untracked=untracked,
    )
