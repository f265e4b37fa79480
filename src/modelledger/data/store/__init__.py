"""The data capability's tables: snapshots and transforms."""
