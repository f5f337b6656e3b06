"""flocloud.client."""
