"""A deterministic simulator of flocloud replication (see ``run.py`` and ``README``)."""
