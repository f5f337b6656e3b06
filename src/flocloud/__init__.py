"""flocloud: a decentralized cloud data store whose rules live on the FLO blockchain.

``flocloud.Client`` (async) and ``flocloud.SyncClient`` (blocking) are the SDK; they are
imported lazily so that ``import flocloud.protocol`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Client", "SyncClient", "__version__"]

if TYPE_CHECKING:
    from flocloud.client import Client, SyncClient


def __getattr__(name: str) -> Any:
    if name in ("Client", "SyncClient"):
        from flocloud import client

        return getattr(client, name)
    raise AttributeError(f"module 'flocloud' has no attribute {name!r}")
