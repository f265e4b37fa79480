"""Retention: which heavy bytes may go (`mledger gc`), which must stay, and why; records never."""
