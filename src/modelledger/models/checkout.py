"""A version's artifact written out of the store (``mledger model checkout``, rehearsal, serving),
every byte checked against the sha256 the version pins: a tree's listing first, then each file.
Nothing is written for a blob whose bytes do not match."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from modelledger.blobs.tree import Tree
from modelledger.data.checkout import copy_verified, prepare_folder, write_tree
from modelledger.ledger import tombstones
from modelledger.ledger.home import Ledger
from modelledger.models.version import ArtifactRef, ModelVersion


class ArtifactSource(Protocol):
    """A ``BlobStore``, or the registry server (``RemoteBlobs``)."""

    def open(self, sha256: str) -> IO[bytes]: ...

    def get_tree(self, sha256: str) -> Tree: ...


@dataclass(frozen=True)
class ArtifactCheckout:
    version: ModelVersion
    path: Path  # the file written, or the folder a tree was written into
    files: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.version.id,
            "label": self.version.label,
            "kind": self.version.tuple.artifact.kind,
            "sha256": self.version.tuple.artifact.sha256,
            "path": str(self.path),
            "files": self.files,
            "bytes": self.bytes,
        }


def artifact_name(manifest: dict[str, Any]) -> str:
    """The file name a single-file artifact was registered under (a loader may care about its
    suffix); an upload to the server records ``upload:NAME``."""
    source = str(manifest.get("artifact_source") or "artifact").removeprefix("upload:")
    name = PurePosixPath(source.replace("\\", "/")).name
    return name if name not in ("", ".", "..") else "artifact"  # never a way out of the folder


def write_artifact(
    blobs: ArtifactSource,
    art: ArtifactRef,
    name: str,
    folder: Path,
    label: str,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[Path, int]:
    """A tree's files under ``folder``, or the file as ``folder/name``: the path and file count."""
    folder.mkdir(parents=True, exist_ok=True)
    if art.kind == "tree":
        tree = blobs.get_tree(art.sha256)  # checked against its hash
        write_tree(blobs, tree, folder, on_bytes)
        return folder, len(tree.entries)
    path = folder / name
    copy_verified(blobs, art.sha256, path, f"the artifact of {label}", art.size or None)
    if on_bytes is not None:
        on_bytes(art.size)
    return path, 1


def checkout_version(
    blobs: ArtifactSource,
    version: ModelVersion,
    folder: Path,
    force: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> ArtifactCheckout:
    prepare_folder(folder, force)
    art = version.tuple.artifact
    path, files = write_artifact(
        blobs, art, artifact_name(version.manifest), folder, version.label, on_bytes
    )
    return ArtifactCheckout(version, path, files, art.size)


def checkout(
    ledger: Ledger,
    ref: str,
    folder: Path,
    force: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> ArtifactCheckout:
    from modelledger.models.reads import get_version

    version = get_version(ledger, ref, latest=True)
    tombstones.require_bytes(ledger, version.id, version.label, version.tuple.artifact.sha256)
    return checkout_version(ledger.blobs, version, folder, force, on_bytes)
