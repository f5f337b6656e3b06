"""The registry fold and the config rules (pure): one rule set, per-entry skips, formats."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_explorers import REG, key

from flocloud.chain import (
    NetworkState,
    RegistryConfig,
    apply_admin_update,
    apply_update,
    check_config_value,
    make_admin_update,
    make_registry_update,
)
from flocloud.chain.reader import ChainTx
from flocloud.client.network import NetworkView, membership_from_state
from flocloud.protocol.errors import BadFormat
from flocloud.protocol.params import REGTEST
from flocloud.protocol.placement import DEFAULT_VIRTUAL_NODES

A, B, ADMIN, SUB, T1 = (key(n) for n in ("a", "b", "admin", "sub", "t1"))


def tx(flo: Any, senders: tuple[str, ...] = (REG.address,), n: int = 1) -> ChainTx:
    data = flo if isinstance(flo, str) else json.dumps(flo)
    return ChainTx(f"{n:064x}", 100 + n, 6, None, data, senders, (), None, f"{n:064x}"[::-1])


def fold(*updates: Any) -> NetworkState:
    state = NetworkState(REGTEST, REG.address)
    for i, u in enumerate(updates):
        state = apply_update(state, u if isinstance(u, ChainTx) else tx(u, n=i))
    return state


def entry(k: Any, uri: str = "h.example:443", **extra: str) -> dict[str, Any]:
    return {k.address: {"pubKey": k.pubkey_hex.upper(), "uri": uri, **extra}}


@pytest.mark.parametrize(
    ("key_", "value", "message"),
    [
        ("virtualNodes", 0, "virtualNodes must be in 1..1024, got 0"),
        ("virtualNodes", -3, "virtualNodes must be in 1..1024, got -3"),
        ("virtualNodes", 2000, "virtualNodes must be in 1..1024, got 2000"),
        ("virtualNodes", "8", "virtualNodes must be an integer 1..1024, got '8'"),
        ("backupDepth", -1, "backupDepth must be in 0..15, got -1"),
        ("backupDepth", True, "backupDepth must be an integer 0..15, got True"),
        ("writeQuorum", 0, "writeQuorum must be in 1..16, got 0"),
        ("delayDelta", 5, "delayDelta must be in 1000..86400000, got 5"),
        ("errorFeedback", "yes", "errorFeedback must be true or false, got 'yes'"),
    ],
)
def test_config_rule_set(key_: str, value: Any, message: str) -> None:
    """One rule set, clear messages; the publisher refuses what readers would skip."""
    with pytest.raises(BadFormat, match=message):
        check_config_value(key_, value)
    with pytest.raises(BadFormat):
        make_registry_update(config={key_: value})
    state = fold({"SuperNodeStorage": {"config": {key_: value, "refreshDelay": 3}}})
    assert [r for _, r in state.skipped] == [f"config {message}"]
    assert state.config.refresh_delay == 3  # the good entry of the same transaction applied


def test_typed_config_fields() -> None:
    """Node, client and CLI read typed values; nobody parses the raw dict."""
    cfg = RegistryConfig.build(
        {"backupDepth": 2, "writeQuorum": 5, "virtualNodes": 8, "delayDelta": 60_000, "x": 1}
    )
    assert (cfg.backup_depth, cfg.virtual_nodes, cfg.max_skew_ms) == (2, 8, 60_000)
    assert (cfg.replication_factor(5), cfg.write_quorum(5), cfg.write_quorum(1)) == (3, 3, 1)
    assert cfg.extra == {"x": 1}
    assert RegistryConfig().write_quorum(4) == 2 and RegistryConfig().replication_factor(4) == 2


def test_node_and_client_take_the_validated_values() -> None:
    """virtualNodes 0 in the registry: node and client both route with the default."""
    state = fold(
        {"SuperNodeStorage": {"newNodes": entry(A) | entry(B), "config": {"virtualNodes": 0}}}
    )
    view = membership_from_state(state)
    net = NetworkView.from_state(state, clock=lambda: 0.0)
    assert view.virtual_nodes == net.virtual_nodes == DEFAULT_VIRTUAL_NODES
    assert view.replication_factor == net.replication_factor == 2
    assert view.nodes[A.address][0] == net.nodes[A.address].ws_url == "wss://h.example:443/ws"


def test_one_bad_entry_skips_only_itself() -> None:
    """A node whose key lies, a bad app value, an unknown update: each skipped alone."""
    state = fold(
        {
            "SuperNodeStorage": {
                "newNodes": entry(A) | {B.address: {"pubKey": A.pubkey_hex, "uri": "b"}},
                "updateNodes": {T1.address: "t.example"},
                "addApps": {"good": ADMIN.address, "bad": {"admin": ADMIN.address}},
                "config": {"backupDepth": 2},
            }
        }
    )
    assert [n.id for n in state.nodes] == [A.address]
    assert [a.name for a in state.apps] == ["good"] and state.backup_depth == 2
    reasons = [r for _, r in state.skipped]
    assert len(reasons) == 3
    assert any("does not hash" in r for r in reasons)
    assert any("not a registered node" in r for r in reasons)
    assert any("must be the admin's FLO ID" in r for r in reasons)


def test_sender_order_and_other_flo_data() -> None:
    """Any input from the registry counts; another sender is no update; other floData of
    the registry is counted; sections apply remove-before-add."""
    other = tx({"SuperNodeStorage": {"newNodes": entry(B)}}, senders=(A.address,))
    second_input = tx({"SuperNodeStorage": {"newNodes": entry(A)}}, (B.address, REG.address))
    state = fold(other, second_input, "plain text", {"chat": 1}, "[1, 2]")
    assert [n.id for n in state.nodes] == [A.address]
    assert (state.ignored, state.skipped) == (3, ())
    swap = fold({"SuperNodeStorage": {"newNodes": entry(A)}},
                {"SuperNodeStorage": {"removeNodes": [A.address], "newNodes": entry(A, "n.example")}})  # fmt: skip
    assert [(n.id, n.uri) for n in swap.nodes] == [(A.address, "n.example")]
    assert swap.epoch is not None and swap.epoch.height == 101


def test_uri_rules() -> None:
    """Bare URI means TLS; the flocloud key names flocloud's endpoint; schemes as given."""
    state = fold(
        {
            "SuperNodeStorage": {
                "newNodes": entry(A, "a.example:8443/sn") | entry(B, "ws://127.0.0.1:7/ws")
            }
        }
    )
    a, b = state.node(A.address), state.node(B.address)
    assert a is not None and b is not None
    assert a.legacy_urls == ("wss://a.example:8443/sn/", "https://a.example:8443/sn")
    assert (a.ws_url, b.ws_url) == ("wss://a.example:8443/sn/ws", "ws://127.0.0.1:7/ws")
    flo = fold({"SuperNodeStorage": {"newNodes": entry(A, "a.example", flocloud="wss://x/ws")}})
    assert flo.nodes[0].ws_url == "wss://x/ws"
    bad = fold({"SuperNodeStorage": {"newNodes": entry(A, "a.example", flocloud="ftp://x")}})
    assert bad.nodes == () and "ws:// or wss://" in bad.skipped[0][1]


def test_published_format_is_what_real_servers_read() -> None:
    """addApps values stay plain IDs; the flocloud endpoint is an extra key; payloads are
    ASCII and fit floData; admin updates remove before they add."""
    (payload,) = make_registry_update(
        add_nodes=[(A.address, A.pubkey_hex, "a.example", "wss://a.example/ws")],
        add_apps={"demo": ADMIN.address},
    )
    doc = json.loads(payload)["SuperNodeStorage"]
    assert doc["addApps"] == {"demo": ADMIN.address}
    assert doc["newNodes"][A.address] == {
        "pubKey": A.pubkey_hex.upper(),  # upper case, as the existing cloud publishes
        "uri": "a.example",
        "flocloud": "wss://a.example/ws",
    }
    with pytest.raises(ValueError, match="admin's FLO ID"):
        make_registry_update(add_apps={"demo": {"admin": ADMIN.address}})  # type: ignore[dict-item]
    (admin_payload,) = make_admin_update(
        "demo", add_sub_admins=[SUB.address], remove_trusted=[T1.address]
    )
    assert list(json.loads(admin_payload)["demo"]) == ["removeTrustedID", "addSubAdmin"]


def test_admin_updates() -> None:
    """Oldest first, removals before additions, only the admin's apps, bad IDs reported."""
    body = {
        "addSubAdmin": [SUB.address, "junk"],
        "addTrustedID": [T1.address],
        "settings": {"a": 1},
    }
    recs, problems = apply_admin_update({}, ["demo"], tx({"demo": body, "other": body}), REGTEST)
    assert set(recs) == {"demo"} and len(problems) == 1 and "junk" in problems[0]
    assert recs["demo"].sub_admins == (SUB.address,) and recs["demo"].settings == {"a": 1}
    again = {
        "removeSubAdmin": [SUB.address],
        "addSubAdmin": [SUB.address],
        "removeTrustedID": [T1.address],
    }
    recs2, _ = apply_admin_update(recs, ["demo"], tx({"demo": again}), REGTEST)
    assert recs2["demo"].sub_admins == (SUB.address,) and recs2["demo"].trusted == ()
    untouched, _ = apply_admin_update(recs, ["demo"], tx({"demo": {"data": 1}}), REGTEST)
    assert untouched == recs
