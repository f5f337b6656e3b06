"""flocloud.client: the SDK (``Client`` async, ``SyncClient`` blocking).

Invariant: importing a module of this package (``flocloud.client.connection``, which a
supernode uses for its peer links) does not import the SDK: the names below are loaded on
first use (PEP 562), so a supernode's start leaves out the client, its objects API and the
encryption it never calls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Client, Cursor, Message, Page
    from .network import NetworkView, NodeRef
    from .objects import ObjectChange, ObjectChanges, ObjectConflict, ObjectDiff, ObjectState
    from .sync import SyncClient

_WHERE = {  # name -> the module of this package that defines it
    **dict.fromkeys(("Client", "Cursor", "Message", "Page"), "client"),
    **dict.fromkeys(("NetworkView", "NodeRef"), "network"),
    **dict.fromkeys(
        ("ObjectChange", "ObjectChanges", "ObjectConflict", "ObjectDiff", "ObjectState"), "objects"
    ),
    "SyncClient": "sync",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # the next lookup is a plain one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
