"""The code a version was trained from, as its tuple records it: the git commit, and for a dirty
tree the stored diff (untracked files included) and the notes the run manifest keeps about it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from modelledger.capture.git import UNTRACKED_DIFF_LIMIT, capture_git
from modelledger.core.errors import DirtyWorkingTree
from modelledger.ledger.home import Ledger
from modelledger.models.version import CodeRef

UNTRACKED_LEFT_OUT = "untracked_not_stored"  # manifest key: untracked files not in the diff


def capture_code(
    ledger: Ledger, path: Path, allow_dirty: bool, not_code: Iterable[Path] = ()
) -> tuple[CodeRef | None, dict[str, Any]]:
    """The git state at ``path`` as a code reference (storing the diff of a dirty tree, untracked
    files included, as a blob), and notes for the run manifest. None when ``path`` is not in a
    git work tree. Untracked files at or under ``not_code`` (and the ledger's own folder) do
    not make the tree dirty."""
    home = ledger.config.home
    exclude = [*not_code, *([home] if home is not None else [])]
    return capture_code_with(lambda b: ledger.blobs.put_bytes(b).sha256, path, allow_dirty, exclude)


def capture_code_with(
    store: Callable[[bytes], str], path: Path, allow_dirty: bool, not_code: Iterable[Path] = ()
) -> tuple[CodeRef | None, dict[str, Any]]:
    """``capture_code``, the diff stored by ``store`` (which returns its sha256): into a local
    store, or sent to the registry server."""
    state = capture_git(path, list(not_code), full=allow_dirty)
    if state is None:
        return None, {"code": "none: not inside a git work tree"}
    if state.dirty and not allow_dirty:
        hint = " (add files that are not code to .gitignore)" if state.untracked else ""
        raise DirtyWorkingTree(
            f"the working tree of {state.root} has uncommitted changes ({state.dirty_listing}): "
            "commit them, or pass --allow-dirty to record the diff and mark the version dirty"
            + hint
        )
    diff_sha = store(state.diff) if state.dirty else None
    code = CodeRef(
        kind="git", repo=state.repo, commit=state.commit, dirty=state.dirty, diff_sha256=diff_sha
    )
    notes: dict[str, Any] = {
        "git_root": state.root,
        "untracked_files": [f.to_json() for f in state.untracked],
    }
    if state.left_out:
        notes[UNTRACKED_LEFT_OUT] = [f.path for f in state.left_out]
    return code, notes


def untracked_reason(manifest: Mapping[str, Any]) -> str | None:
    """Why a version whose untracked files did not fit in the stored diff is irreproducible."""
    left_out = manifest.get(UNTRACKED_LEFT_OUT)
    if not left_out:
        return None
    listed = ", ".join(left_out[:5]) + (" …" if len(left_out) > 5 else "")
    return (
        f"untracked files over {UNTRACKED_DIFF_LIMIT // (1024 * 1024)} MiB were not stored with "
        f"the code ({listed}): the training code cannot be rebuilt from the ledger"
    )
