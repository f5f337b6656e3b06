"""Registry entries in the existing FLO cloud's format (bare uri, flocloud endpoint in an
extra key), as ``flocloud chain publish --legacy`` writes them and nodes read them."""

from __future__ import annotations

import json

import pytest

from flocloud.chain.reader import ChainTx
from flocloud.chain.registry import NetworkState, apply_update, make_registry_update
from flocloud.devnet.network import deterministic_key
from flocloud.protocol.params import REGTEST

REG, NODE, OLD, ADMIN = (deterministic_key(f"reg-legacy-{i}") for i in range(4))


def tx(n: int, flo_data: bytes) -> ChainTx:
    return ChainTx(f"{n:064x}", n, 1, None, flo_data.decode(), (REG.address,), ())


def test_legacy_entries_are_written_and_read() -> None:
    [payload] = make_registry_update(
        add_nodes=[(NODE.address, NODE.pubkey_hex, "wss://node.example:8443/ws")],
        add_apps={"demo": ADMIN.address},
        config={"delayDelta": 60000},
        legacy=True,
    )
    content = json.loads(payload)["SuperNodeStorage"]
    assert content["newNodes"] == {
        NODE.address: {
            "pubKey": NODE.pubkey_hex.upper(),
            "uri": "node.example:8443",
            "flocloud": "wss://node.example:8443/ws",
        }
    }
    assert content["addApps"] == {"demo": ADMIN.address}  # a plain admin ID
    # an entry of the existing cloud without the extra key: its bare uri means wss://…/ws
    plain = {"SuperNodeStorage": {"newNodes": {OLD.address: {"pubKey": OLD.pubkey_hex.upper(), "uri": "old.example/cloud"}}}}  # fmt: skip
    state = apply_update(NetworkState(REGTEST, REG.address), tx(1, payload))
    state = apply_update(state, tx(2, json.dumps(plain).encode()))
    uris = {n.id: n.uri for n in state.nodes}
    assert uris == {
        NODE.address: "wss://node.example:8443/ws",
        OLD.address: "wss://old.example/cloud/ws",
    }
    update = {"SuperNodeStorage": {"updateNodes": {NODE.address: "moved.example"}}}
    state = apply_update(state, tx(3, json.dumps(update).encode()))
    assert state.node(NODE.address).uri == "wss://moved.example/ws"  # type: ignore[union-attr]
    assert state.config["delayDelta"] == 60000


def test_legacy_entries_need_a_wss_endpoint() -> None:
    with pytest.raises(ValueError, match="wss://"):
        make_registry_update(
            add_nodes=[(NODE.address, NODE.pubkey_hex, "ws://h:1/ws")], legacy=True
        )
