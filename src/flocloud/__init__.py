"""flocloud: a decentralized cloud data store whose rules live on the FLO blockchain."""

__version__ = "0.1.0"
__all__ = ["__version__"]
