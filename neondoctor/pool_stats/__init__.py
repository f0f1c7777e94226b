"""Connection slots: who holds them against what the server allows, sampled read-only."""
