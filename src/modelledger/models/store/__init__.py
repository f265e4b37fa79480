"""The models capability's tables: versions (with their data links) and systems."""
