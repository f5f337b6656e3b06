"""The registry follower against the real explorer shapes (``explorers.py``): exact reading,
reorgs, failover, timeouts and the hex check."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from fake_explorers import BASE, REG, FakeChain, FakeExplorer, key, signed_tx

from flocloud.chain import RegistryFollower, make_reader
from flocloud.chain.registry import make_admin_update, make_registry_update
from flocloud.protocol.errors import ExplorerError
from flocloud.protocol.params import REGTEST
from flocloud.protocol.placement import DEFAULT_VIRTUAL_NODES

X, Y, ADMIN, HELPER, OTHER = (key(n) for n in ("x", "y", "admin", "helper", "other"))
KINDS = [
    ("blockbook", "fork"),
    ("blockbook", "upstream"),
    ("blockbook-v2", "fork"),
    ("blockbook-v2", "upstream"),
    ("flosight", "fork"),
]


def upd(**kw: Any) -> bytes:
    (payload,) = make_registry_update(**kw)
    return payload


def registry_chain() -> FakeChain:
    """The first node list, then an update sent with the registry as a *second* input,
    an app whose admin publishes sub-admins, unrelated floData, a bad entry."""
    chain = FakeChain()
    chain.add_block(signed_tx([REG], upd(add_nodes=[(X.address, X.pubkey_hex, "x.example.org")])))
    chain.add_block(
        signed_tx(
            [OTHER, REG],
            upd(
                add_nodes=[
                    (Y.address, Y.pubkey_hex, "y.example.org:8443", "wss://y.example.org/ws")
                ],
                add_apps={"demo": ADMIN.address},
            ),
        ),
        signed_tx([REG], b'{"demo": {"hello": "app data"}}'),
    )
    bad = {"SuperNodeStorage": {"config": {"virtualNodes": 2000, "backupDepth": 2}}}
    chain.add_block(
        signed_tx([REG], json.dumps(bad).encode()),
        *(
            signed_tx([ADMIN], p)
            for p in make_admin_update("demo", add_sub_admins=[HELPER.address])
        ),
    )
    for _ in range(6):
        chain.add_block()
    return chain


async def read(explorer: FakeExplorer, kind: str, confirmations: int = 6) -> Any:
    async with RegistryFollower(
        make_reader(kind, explorer.url, retries=0), REG.address, REGTEST,
        confirmations=confirmations,
    ) as follower:  # fmt: skip
        return await follower.load()


@pytest.mark.parametrize(("kind", "flavour"), KINDS)
async def test_every_explorer_shape_reads_the_same_registry(kind: str, flavour: str) -> None:
    """RanchiMall's Blockbook (v1/v2), upstream Blockbook (floData only in hex) and
    Flosight give one state: any input from the registry counts, a bad config entry is
    skipped alone, other floData is only counted, sub-admins come from the admin."""
    chain = registry_chain()
    async with FakeExplorer(chain, flavour) as explorer:
        state = await read(explorer, kind)
    assert [n.id for n in state.nodes] == sorted([X.address, Y.address])
    x, y = state.node(X.address), state.node(Y.address)
    assert x is not None and x.ws_url == "wss://x.example.org/ws"
    assert x.legacy_urls == ("wss://x.example.org/", "https://x.example.org")
    assert y is not None and y.ws_url == "wss://y.example.org/ws"
    assert state.backup_depth == 2 and state.virtual_nodes == DEFAULT_VIRTUAL_NODES
    assert [r for _, r in state.skipped] == ["config virtualNodes must be in 1..1024, got 2000"]
    assert state.ignored == 1
    demo = state.app("demo")
    assert demo is not None and demo.sub_admins == (HELPER.address,)
    assert state.epoch is not None and state.epoch.height == BASE + 2


async def test_confirmations_hold_updates_back() -> None:
    """An update applies only once `confirmations` blocks deep."""
    chain = registry_chain()
    async with FakeExplorer(chain) as explorer:
        deep = await read(explorer, "blockbook", confirmations=9)
        assert [n.id for n in deep.nodes] == [X.address]  # block 100 is 9 deep, 101 only 8
        assert (await read(explorer, "blockbook", confirmations=10)).nodes == ()


async def test_flosight_cursor_chunks_and_block_order() -> None:
    """Flosight in chunks of 2 (so the oldest update is only reachable through the
    cursor), and a remove + re-add of a node in one block whose txids sort the other way
    round: the node stays, with its new URI."""
    chain = FakeChain()
    chain.add_block(signed_tx([REG], upd(add_nodes=[(X.address, X.pubkey_hex, "old.example")])))
    for i in range(4):
        chain.add_block(signed_tx([REG], upd(config={"n": i})))
    salt = 0
    while True:  # find a remove whose txid sorts after the re-add
        remove = signed_tx([REG], upd(remove_nodes=[X.address]), salt)
        readd = signed_tx([REG], upd(add_nodes=[(X.address, X.pubkey_hex, "new.example")]), salt)
        if remove.txid > readd.txid:
            break
        salt += 1
    chain.add_block(remove, readd)
    for _ in range(6):
        chain.add_block()
    async with FakeExplorer(chain, chunk=2) as explorer:
        state = await read(explorer, "flosight")
        again = await read(explorer, "blockbook")
    assert [(n.id, n.uri) for n in state.nodes] == [(X.address, "new.example")]
    assert state.config.raw["n"] == 3
    assert state == again


async def test_flosight_plain_text_error_is_reported() -> None:
    """Flosight's errors are text: the status and message reach the caller."""
    async with FakeExplorer(FakeChain()) as explorer:
        reader = make_reader("flosight", explorer.url, retries=0)
        with pytest.raises(
            ExplorerError, match=re.escape("HTTP 400: Invalid address: Fnot. Code:1")
        ):
            await reader.history("Fnot")
        await reader.aclose()


async def test_reorg_running_and_fresh_agree() -> None:
    """Add X at 100, Y at 101; then 101 is replaced by a config change. A follower that
    had applied Y drops it and applies the config change, exactly as a fresh one reads."""
    chain = FakeChain()
    chain.add_block(signed_tx([REG], upd(add_nodes=[(X.address, X.pubkey_hex, "x.example")])))
    chain.add_block(signed_tx([REG], upd(add_nodes=[(Y.address, Y.pubkey_hex, "y.example")])))
    async with FakeExplorer(chain) as explorer:
        running = RegistryFollower(
            make_reader("blockbook", explorer.url), REG.address, REGTEST, confirmations=1
        )
        before = await running.refresh()
        assert len(before.nodes) == 2
        chain.replace_from(BASE + 1, [signed_tx([REG], upd(config={"backupDepth": 3}))], [])
        after = await running.refresh()
        fresh = await read(explorer, "blockbook", confirmations=1)
        await running.aclose()
    assert after == fresh
    assert [n.id for n in after.nodes] == [X.address] and after.backup_depth == 3
    assert after.epoch is not None and after.epoch.hash == chain.block_hash(BASE + 1)


async def test_unrelated_flo_data_does_not_grow_the_state() -> None:
    """The registry ID's other floData (an app's data) is counted, never listed."""
    chain = FakeChain()
    chain.add_block(signed_tx([REG], upd(add_nodes=[(X.address, X.pubkey_hex, "x.example")])))
    for i in range(40):
        chain.add_block(signed_tx([REG], json.dumps({"chat": {"n": i}}).encode()))
    async with FakeExplorer(chain) as explorer:
        state = await read(explorer, "blockbook", confirmations=1)
    assert (state.ignored, state.skipped, state.skipped_total) == (40, (), 0)
    assert state.epoch is not None and state.epoch.height == BASE  # only updates move it


@pytest.mark.parametrize("kind", ["blockbook", "blockbook-v2", "flosight"])
async def test_lying_explorer_fails_over_to_an_honest_one(kind: str) -> None:
    """An explorer whose floData view differs from the transaction's hex (in the view, or
    Flosight's /api/rawtx) is an error; the follower asks the next explorer."""
    honest_chain = registry_chain()
    lying_chain = registry_chain()
    first = lying_chain.blocks[0][0]
    lying_chain.lie_about(
        first.txid, first.flo_data.decode().replace("x.example.org", "evil.example")
    )
    async with FakeExplorer(lying_chain) as liar, FakeExplorer(honest_chain) as honest:
        with pytest.raises(ExplorerError, match="floData differs from its hex"):
            await read(liar, kind)
        follower = RegistryFollower(
            [make_reader(kind, liar.url, retries=0), make_reader(kind, honest.url)],
            REG.address,
            REGTEST,
        )
        state = await follower.load()
        await follower.aclose()
        assert follower.explorer == honest.url
    node = state.node(X.address)
    assert node is not None and node.uri == "x.example.org"


async def test_timeout_holds_end_to_end_then_failover() -> None:
    """A slow explorer (each request 0.6 s, several retries and pages) cannot stretch one
    refresh past the deadline; the next explorer answers."""
    chain = registry_chain()
    async with FakeExplorer(chain) as slow, FakeExplorer(chain) as fast:
        slow.delay = 0.6
        follower = RegistryFollower(
            [make_reader("blockbook", slow.url, retries=5), make_reader("blockbook", fast.url)],
            REG.address,
            REGTEST,
            timeout=1.0,
        )
        started = time.monotonic()
        state = await follower.load()
        took = time.monotonic() - started
        alone = RegistryFollower(
            make_reader("blockbook", slow.url), REG.address, REGTEST, timeout=1.0
        )
        with pytest.raises(ExplorerError, match=re.escape("within 1.0 s")):
            await alone.load()
        await follower.aclose()
        await alone.aclose()
        assert len(state.nodes) == 2 and follower.explorer == fast.url
    assert took < 5, took  # the slow explorer got its second, not its retries' worth


async def test_a_shorter_chain_undoes_updates() -> None:
    """Blocks disappear (the explorer follows a shorter best chain for a while): the
    updates in them are undone, and come back when a branch brings them again."""
    chain = FakeChain()
    add_x = signed_tx([REG], upd(add_nodes=[(X.address, X.pubkey_hex, "x.example")]))
    add_y = signed_tx([REG], upd(add_nodes=[(Y.address, Y.pubkey_hex, "y.example")]))
    chain.add_block(add_x)
    chain.add_block(add_y)
    async with (
        FakeExplorer(chain) as explorer,
        RegistryFollower(
            make_reader("blockbook", explorer.url), REG.address, REGTEST, confirmations=1
        ) as follower,
    ):
        assert len((await follower.refresh()).nodes) == 2
        chain.replace_from(BASE + 1)
        shorter = await follower.refresh()
        assert [n.id for n in shorter.nodes] == [X.address]
        chain.add_block(add_y, tag="c")
        again = await follower.refresh()
    assert len(again.nodes) == 2 and again.epoch is not None
    assert again.epoch.hash == chain.block_hash(BASE + 1)


async def test_a_mismatch_on_a_transaction_nobody_reads_is_no_error() -> None:
    """The registry ID's app data whose explorer view differs from its hex does not stop
    the registry from being read (only updates must match their bytes)."""
    chain = registry_chain()
    noise = chain.blocks[1][1]
    chain.lie_about(noise.txid, '{"demo": {"hello": "rewritten"}}')
    async with FakeExplorer(chain) as explorer:
        state = await read(explorer, "blockbook")
    assert len(state.nodes) == 2 and state.ignored == 1


async def test_earlier_states_are_the_registry_before_each_remembered_block() -> None:
    """What a starting node keeps joint with for strict objects: the registry's states
    before each remembered block, newest first (here: before Y joined, before X did)."""
    chain = registry_chain()
    async with (
        FakeExplorer(chain) as explorer,
        RegistryFollower(
            make_reader("blockbook", explorer.url, retries=0), REG.address, REGTEST
        ) as follower,
    ):
        state = await follower.load()
        earlier = follower.earlier_states()
    assert [n.id for n in state.nodes] == sorted([X.address, Y.address])
    layouts = [[n.id for n in s.nodes] for s in earlier]
    assert layouts[0] == sorted([X.address, Y.address])  # before the bad-config block
    assert layouts[1:] == [[X.address], []]
