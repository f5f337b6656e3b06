"""flocloud.web."""
