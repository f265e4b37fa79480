"""What the environment tells us at registration: git state, dependency lock, hardware."""
