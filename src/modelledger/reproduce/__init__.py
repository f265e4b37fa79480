"""`mledger reproduce`: rebuild a version from its tuple and check the result (S12)."""
