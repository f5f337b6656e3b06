"""flocloud.storage."""
