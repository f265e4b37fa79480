"""Content-addressed blob store: ``sha256/ab/cdef…`` objects over fsspec."""

from modelledger.blobs.store import BlobInfo, BlobStore, Staged

__all__ = ["BlobInfo", "BlobStore", "Staged"]
