"""flocloud.testing."""
