"""The inference log: predictions served or imported, feedback, prediction audit, arm comparison."""
