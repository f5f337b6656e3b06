"""flocloud.devnet: a local network of real processes (dev chain + supernodes) on 127.0.0.1.

The same code serves ``flocloud devnet up`` and the multi-node tests.
"""

from .network import ChainProcess, Network, NodeProcess, deterministic_key

__all__ = ["ChainProcess", "Network", "NodeProcess", "deterministic_key"]
