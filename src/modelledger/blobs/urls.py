"""What a store URL names, checked before anything is written to it."""

from __future__ import annotations

from modelledger.core.errors import InvalidInput


def check_url(url: str) -> None:
    """InvalidInput, in one line, for a store URL whose protocol fsspec does not know or whose
    backend package is not installed (rather than a traceback at the first write)."""
    if "://" not in url or url.startswith("file://"):
        return
    import fsspec

    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise InvalidInput(f"blob store {url}: unknown protocol {protocol!r}") from None
    except ImportError as exc:  # fsspec says which package: "Install s3fs to access S3"
        raise InvalidInput(f"blob store {url}: {str(exc).rstrip('.')}") from None
