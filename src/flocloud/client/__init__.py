"""flocloud.client: the SDK (``Client`` async, ``SyncClient`` blocking)."""

from .client import Client, Cursor, Message, Page
from .network import NetworkView, NodeRef
from .objects import (
    ObjectChange,
    ObjectChanges,
    ObjectConflict,
    ObjectDiff,
    ObjectState,
)
from .sync import SyncClient

__all__ = [
    "Client",
    "Cursor",
    "Message",
    "NetworkView",
    "NodeRef",
    "ObjectChange",
    "ObjectChanges",
    "ObjectConflict",
    "ObjectDiff",
    "ObjectState",
    "Page",
    "SyncClient",
]
