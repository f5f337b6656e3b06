"""flocloud.cli."""
