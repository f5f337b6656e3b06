"""flocloud.client: the SDK (``Client`` async, ``SyncClient`` blocking)."""

from .client import Client, Cursor, Message, ObjectState, Page
from .network import NetworkView, NodeRef
from .sync import SyncClient

__all__ = [
    "Client",
    "Cursor",
    "Message",
    "NetworkView",
    "NodeRef",
    "ObjectState",
    "Page",
    "SyncClient",
]
