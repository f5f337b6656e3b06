"""``flocloud devchain``: an embedded local FLO chain (regtest parameters) for development.

See ``state.py`` for what is validated for real and what is simplified, and ``server.py``
for the Blockbook v1 API it serves.
"""

from .server import DevChain, faucet_key
from .state import ChainState, Rejected

__all__ = ["ChainState", "DevChain", "Rejected", "faucet_key"]
