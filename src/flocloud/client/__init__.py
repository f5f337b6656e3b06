"""flocloud.client: the SDK (``Client`` async, ``SyncClient`` blocking)."""

from .client import Client, Message, ObjectState
from .network import NetworkView, NodeRef
from .sync import SyncClient

__all__ = ["Client", "Message", "NetworkView", "NodeRef", "ObjectState", "SyncClient"]
