"""The registry server as a client reaches it (``MLEDGER_URL``, ``MLEDGER_TOKEN``)."""
