"""Fixtures of the node tests (helpers live in tests/node_helpers.py)."""

from node_helpers import node, tight_node, ws

__all__ = ["node", "tight_node", "ws"]
