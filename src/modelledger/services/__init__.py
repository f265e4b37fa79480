"""Use cases: each module combines domain, blobs and store for one family of verbs."""
