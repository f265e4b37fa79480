"""``/blobs``: content-addressed bytes in and out of the server's store.

A blob is sent to ``PUT /blobs/{sha256}`` and kept only if its bytes hash to that address (else
422, nothing stored); ``POST /blobs/missing`` says which of a list the store lacks, so a client
sends only what is new (a re-snapshot of unchanged files sends none). ``GET /blobs/{sha256}``
answers the stored bytes as they are: the client checks them against the address it asked for,
so what a damaged store, or anything on the way, changed is caught there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from fastapi.responses import FileResponse, Response, StreamingResponse

from modelledger.blobs.staged import BlobInfo
from modelledger.core.errors import InvalidInput
from modelledger.ledger.home import Ledger

SHA256 = "^[0-9a-f]{64}$"
CHUNK = 1 << 20


def blob_response(ledger: Ledger, sha256: str) -> Response:
    """The stored bytes (404 when the store does not hold them)."""
    blobs = ledger.blobs
    if blobs.local:
        loose = blobs.path(sha256)
        if os.path.exists(loose):  # the kernel sends it (sendfile)
            return FileResponse(loose, media_type="application/octet-stream")
    stream = blobs.open(sha256)  # NotFound: 404

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream")


def store_sent(ledger: Ledger, sha256: str, spooled: Path) -> BlobInfo:
    """Keep the spooled upload if it is the blob ``sha256`` names."""
    staged = ledger.blobs.stage_file(spooled)
    if staged.info.sha256 != sha256:
        staged.discard()
        raise InvalidInput(
            f"the bytes sent hash to sha256:{staged.info.sha256}, not to the sha256:{sha256} "
            "they were sent as (changed on the way, or since they were hashed); nothing was stored"
        )
    return staged.commit()
