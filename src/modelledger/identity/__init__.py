"""People and service accounts: who they are, what they may do, and the keys they sign with."""
