"""Questions that cross every capability: data lineage and deletion impact."""
