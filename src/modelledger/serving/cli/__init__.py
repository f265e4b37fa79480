"""``mledger serve`` and ``mledger route …``."""
