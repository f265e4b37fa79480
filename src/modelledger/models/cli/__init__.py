"""``mledger model …`` and ``mledger system …``."""
