"""flocloud.chain."""
