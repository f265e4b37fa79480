"""``mledger env …``, ``gate check``, ``promote``, ``rehearse``, ``rollback`` and ``eval stale``."""
