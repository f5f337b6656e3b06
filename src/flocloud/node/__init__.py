"""flocloud.node."""
