"""Going live: environments, gate policies, promotion, rehearsal, rollback, and what needs
re-scoring when an eval set evolves."""
