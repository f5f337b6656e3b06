"""A node that follows a registry and has not read it yet serves no consistent read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from flocloud.node.config import AppConfig, ChainConfig, NodeConfig
from flocloud.node.objects import object_get
from flocloud.node.service import NodeService
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.storage.sqlite import SqliteStore

A = PrivateKey(hashlib.sha256(b"apps-read").digest(), REGTEST)


async def test_a_node_that_has_not_read_its_registry_serves_no_consistent_read(
    tmp_path: Path,
) -> None:
    """Until a node following a registry has read its applications it cannot tell a
    strict object from a merge one (``objects.is_strict`` says ``unavailable``): a
    consistent read, the mode of a plain read's reply and an object write a peer forwards
    are refused, never answered from its own empty state as if merged (a stale read); a
    plain read of nothing is this store's ``not-found``; after the first read of the
    registry the consistent read is answered."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    chain = ChainConfig(explorer="http://127.0.0.1:9", registry=A.address)
    svc = NodeService(NodeConfig(chain=chain, verify_threads=0, verify_processes=0), store)
    try:
        with pytest.raises(FlocloudError) as err:
            await object_get(svc, "demo", "doc", consistent=True)
        assert err.value.code == "unavailable" and "registry" in err.value.message
        with pytest.raises(FlocloudError) as err:  # a plain read is this store's state
            await object_get(svc, "demo", "doc")
        assert err.value.code == "not-found"
        svc.set_apps({"demo": AppConfig(A.address)})
        with pytest.raises(FlocloudError) as err:
            await object_get(svc, "demo", "doc", consistent=True)
        assert err.value.code == "not-found"  # a merge object nobody wrote: answered
    finally:
        await store.close()
