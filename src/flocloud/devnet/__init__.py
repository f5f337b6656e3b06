"""flocloud.devnet."""
