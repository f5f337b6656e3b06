"""The dev chain: real validation, mining, persistence, Blockbook v1 shapes, faucet, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from flocloud.chain.blockbook import BlockbookV1Reader
from flocloud.chain.devchain import DevChain, Rejected
from flocloud.chain.follower import RegistryFollower
from flocloud.chain.publisher import DUST_LIMIT, Publisher, build_data_tx
from flocloud.chain.reader import Utxo
from flocloud.chain.registry import make_admin_update, make_registry_update
from flocloud.chain.script import p2pkh_script
from flocloud.chain.tx import OutPoint, Transaction, TxIn, TxOut, sign_p2pkh_input
from flocloud.protocol.errors import InsufficientFunds
from flocloud.protocol.hashes import hash160
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST


def key(label: str) -> PrivateKey:
    import hashlib

    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[DevChain]:
    dc = DevChain(tmp_path / "chain", port=0, block_interval=0)
    await dc.start()
    yield dc
    await dc.stop()


async def funded(dc: DevChain, k: PrivateKey, sat: int = 100_000_000) -> list[Utxo]:
    await dc.fund(k.address, sat)
    await dc.mine(1)
    return [Utxo(t, v, val, 1, h) for t, v, val, h in dc.state.utxos(k.address)]


class TestValidation:
    async def test_accepts_signed_data_tx_and_confirms(self, chain: DevChain) -> None:
        """A real signed data tx is accepted, mined and reported with its floData."""
        alice = key("alice")
        tx = build_data_tx(await funded(chain, alice), alice, b"hello chain", 1.0)
        assert await chain.submit(tx.to_hex()) == tx.txid
        assert chain.tx_json(tx.txid)["confirmations"] == 0  # type: ignore[index]
        await chain.mine(2)
        doc = chain.tx_json(tx.txid)
        assert doc is not None
        assert (doc["confirmations"], doc["floData"]) == (2, "hello chain")

    async def test_rejections(self, chain: DevChain) -> None:
        """Bad signature, double spend, missing input, low fee, big floData, dust: refused."""
        alice, bob = key("alice"), key("bob")
        coins = await funded(chain, alice)
        good = build_data_tx(coins, alice, b"x", 1.0)
        bad_sig = replace(good, flo_data=b"y")  # floData is signed
        cases = {"invalid signature": bad_sig}
        spk = p2pkh_script(hash160(alice.public_key))
        missing = Transaction(2, (TxIn(OutPoint("ab" * 32, 0)),), (TxOut(10_000, spk),))
        cases["missing output"] = sign_p2pkh_input(missing, 0, alice)
        c = coins[0]
        no_fee = Transaction(2, (TxIn(OutPoint(c.txid, c.vout)),), (TxOut(c.value, spk),))
        cases["min relay fee"] = sign_p2pkh_input(no_fee, 0, alice)
        big = Transaction(
            2, (TxIn(OutPoint(c.txid, c.vout)),), (TxOut(c.value - 5000, spk),), 0, b"a" * 1041
        )
        cases["flo-data-too-large"] = sign_p2pkh_input(big, 0, alice)
        dust = Transaction(
            2, (TxIn(OutPoint(c.txid, c.vout)),), (TxOut(c.value - 5000, spk), TxOut(100, spk))
        )
        cases["dust"] = sign_p2pkh_input(dust, 0, alice)
        wrong_key = sign_p2pkh_input(
            replace(good, inputs=(TxIn(OutPoint(c.txid, c.vout)),)), 0, bob
        )
        cases["invalid signature (wrong key)"] = wrong_key
        for expected, tx in cases.items():
            with pytest.raises(Rejected, match=expected.split(" (")[0]):
                await chain.submit(tx.to_hex())
        await chain.submit(good.to_hex())
        again = build_data_tx(coins, alice, b"other", 1.0)  # same coin, other tx
        with pytest.raises(Rejected, match="double-spends"):
            await chain.submit(again.to_hex())
        with pytest.raises(Rejected, match="decode"):
            await chain.submit("zz")

    async def test_builder_errors(self, chain: DevChain) -> None:
        """Not enough coins is InsufficientFunds; fees meet the relay minimum on real size."""
        alice = key("alice")
        with pytest.raises(InsufficientFunds):
            build_data_tx([], alice, b"x")
        coins = await funded(chain, alice, 3000)
        with pytest.raises(InsufficientFunds):
            build_data_tx(coins, alice, b"x" * 1000, 3.0)
        tx = build_data_tx(await funded(chain, alice), alice, b"y" * 1040, 1.0)
        fee = sum(u.value for u in coins) * 0  # recompute from the chain after acceptance
        await chain.submit(tx.to_hex())
        found = chain.state.tx(tx.txid)
        assert found is not None
        fee = found[3]
        assert fee >= tx.size
        assert all(o.value >= DUST_LIMIT for o in tx.outputs)


class TestChainLife:
    async def test_restart_keeps_state(self, tmp_path: Path) -> None:
        """Blocks, balances and transactions survive a restart on the same directory."""
        dc = DevChain(tmp_path / "c", port=0, block_interval=0)
        await dc.start()
        txid = await dc.fund(key("carol").address, 12345678)
        await dc.mine(1)
        height, faucet = dc.state.height, dc.faucet_address
        await dc.stop()
        again = DevChain(tmp_path / "c", port=0, block_interval=0)
        await again.start()
        try:
            assert (again.state.height, again.faucet_address) == (height, faucet)
            assert again.state.balance(key("carol").address)[0] == 12345678
            assert again.tx_json(txid) is not None
        finally:
            await again.stop()

    async def test_api_shapes_and_registry_round_trip(self, chain: DevChain) -> None:
        """Blockbook v1 shapes (floData absent when empty) and a registry read back: bad
        entries are skipped one by one, other floData of the registry ID only counted,
        sub-admins and trusted IDs come from the admin's own transactions."""
        reg, node, admin, stranger = key("registry"), key("node-1"), key("admin"), key("stranger")
        for k in (reg, admin, stranger):
            await funded(chain, k)
        async with BlockbookV1Reader(chain.url) as reader:
            updates = make_registry_update(
                add_nodes=[(node.address, node.pubkey_hex, "127.0.0.1:1", "ws://127.0.0.1:1/ws")],
                config={"backupDepth": 2},
                add_apps={"demo": admin.address},
            )
            await Publisher(reader, reg).publish_many(updates)
            # noise the registry must skip: another sender; other floData; a lying key
            await Publisher(reader, stranger).publish(b'{"SuperNodeStorage":{"removeNodes":["x"]}}')
            await Publisher(reader, reg).publish(b"not json")
            await Publisher(reader, reg).publish(b'{"demo": {"some": "app data"}}')
            liar = {
                "newNodes": {key("n2").address: {"pubKey": node.pubkey_hex, "uri": "x"}},
                "config": {"virtualNodes": 0, "writeQuorum": 2},
            }
            await Publisher(reader, reg).publish(json.dumps({"SuperNodeStorage": liar}).encode())
            for payload in make_admin_update(
                "demo", add_sub_admins=[stranger.address], add_trusted=[node.address]
            ):
                await Publisher(reader, admin).publish(payload)
            follower = RegistryFollower(reader, reg.address, REGTEST, confirmations=2)
            await chain.mine(1)
            unconfirmed = await follower.refresh()
            assert unconfirmed.nodes == ()  # one block deep, two asked
            await chain.mine(1)
            state = await follower.refresh()
            fresh = await RegistryFollower(reader, reg.address, REGTEST, confirmations=2).load()
            page = await reader.address_txs(reg.address)
        assert state == fresh
        assert [n.id for n in state.nodes] == [node.address]
        assert state.nodes[0].ws_url == "ws://127.0.0.1:1/ws"
        assert state.replication_factor == 1  # backupDepth 2 but only one node
        assert (state.virtual_nodes, state.write_quorum) == (256, 1)  # 0 refused: the default
        assert state.config.raw["writeQuorum"] == 2  # the good entry of that tx applied
        demo = state.app("demo")
        assert demo is not None and demo.admin == admin.address
        assert (demo.sub_admins, demo.trusted) == ((stranger.address,), (node.address,))
        reasons = [r for _, r in state.skipped]
        assert len(reasons) == 2, reasons
        assert any("does not hash" in r for r in reasons)
        assert any("virtualNodes must be in 1..1024, got 0" in r for r in reasons)
        assert state.ignored == 2  # "not json" and the app data: counted, not listed
        assert state.epoch is not None and state.epoch.height == chain.state.height - 1
        funding = [t for t in page.txs if t.flo_data == "faucet"]
        assert funding and all(t.sender == chain.faucet_address for t in funding)

    async def test_reorg_running_and_fresh_followers_agree(self, chain: DevChain) -> None:
        """Add X at h, add Y at h+1; then h+1 is replaced by a branch carrying a config
        change instead. A follower that had applied Y and a fresh one end equal."""
        reg, x, y = key("registry"), key("node-x"), key("node-y")
        await funded(chain, reg)
        async with BlockbookV1Reader(chain.url) as reader:
            pub = Publisher(reader, reg)
            await pub.publish_many(
                make_registry_update(add_nodes=[(x.address, x.pubkey_hex, "x:1")])
            )
            await chain.mine(1)
            await pub.publish_many(
                make_registry_update(add_nodes=[(y.address, y.pubkey_hex, "y:1")])
            )
            await chain.mine(1)
            running = RegistryFollower(reader, reg.address, REGTEST, confirmations=1)
            before = await running.refresh()
            assert [n.id for n in before.nodes] == sorted([x.address, y.address])
            fork = chain.state.height
            await chain.invalidate(fork, drop=True)
            await pub.publish_many(make_registry_update(config={"backupDepth": 3}))
            await chain.mine(2)
            after = await running.refresh()
            fresh = await RegistryFollower(reader, reg.address, REGTEST, confirmations=1).load()
        assert after == fresh
        assert [n.id for n in after.nodes] == [x.address]
        assert after.backup_depth == 3
        assert after.epoch is not None and after.epoch.height == fork
        assert after.epoch != before.epoch

    async def test_http_endpoints(self, chain: DevChain) -> None:
        """Faucet, mine, utxo, tx, block and error shapes over HTTP."""
        dave = key("dave")
        async with aiohttp.ClientSession() as s:
            async with s.post(
                chain.url + "/api/faucet",
                json={"address": dave.address, "amount": "0.5", "mine": True},
            ) as r:
                body = await r.json()
                assert r.status == 200 and body["sat"] == 50_000_000
            async with s.get(chain.url + f"/api/utxo/{dave.address}") as r:
                (utxo,) = await r.json()
                assert (utxo["satoshis"], utxo["amount"], utxo["confirmations"]) == (
                    50_000_000,
                    0.5,
                    1,
                )
            async with s.get(chain.url + f"/api/tx/{utxo['txid']}") as r:
                tx = await r.json()
                assert tx["floData"] == "faucet"
            async with s.get(chain.url + f"/api/block/{tx['blockheight']}") as r:
                block = await r.json()
                assert utxo["txid"] in [t["txid"] for t in block["txs"]]
                coinbase = block["txs"][0]
                assert "floData" in coinbase
            async with s.post(chain.url + "/api/mine", json={"blocks": 2}) as r:
                assert (await r.json())["height"] == block["height"] + 2
            async with s.get(chain.url + "/api/tx/" + "00" * 32) as r:
                assert r.status == 400 and "error" in await r.json()
            async with s.post(chain.url + "/api/faucet", json={"nope": 1}) as r:
                assert r.status == 400
            # malformed input is a clear 400, never a server error
            for method, path, body in (
                ("POST", "/api/faucet", [1]),
                ("POST", "/api/mine", [1]),
                ("GET", "/api/block/" + "9" * 30, None),
                ("GET", "/api/block-index/" + "9" * 30, None),
            ):
                async with s.request(method, chain.url + path, json=body) as r:
                    assert r.status == 400 and "error" in await r.json(), path


def test_cli_devchain_subprocess(tmp_path: Path) -> None:
    """`flocloud devchain run` starts, answers status and faucet, and stops on SIGTERM."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = [sys.executable, "-m", "flocloud.cli"]
    proc = subprocess.Popen(
        [
            *exe,
            "devchain",
            "run",
            "--dir",
            str(tmp_path / "d"),
            "--port",
            str(port),
            "--block-interval",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 20
        while True:
            out = subprocess.run(
                [*exe, "devchain", "status", "--url", url, "--json"], capture_output=True, text=True
            )
            if out.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert out.returncode == 0, out.stderr
        funded = subprocess.run(
            [*exe, "devchain", "faucet", key("erin").address, "--amount", "1", "--url", url],
            capture_output=True,
            text=True,
        )
        assert funded.returncode == 0 and len(funded.stdout.strip()) == 64
        bad = subprocess.run(
            [*exe, "devchain", "faucet", "nonsense", "--url", url], capture_output=True, text=True
        )
        assert bad.returncode != 0 and "Traceback" not in bad.stderr
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, output
    assert "devchain stopped" in output
    assert os.path.exists(tmp_path / "d" / "chain.sqlite3")


async def test_sdk_client_follows_the_registry(chain: DevChain) -> None:
    """A long-lived client refreshes its registry periodically (no node is contacted)."""
    from flocloud.client import Client

    reg, a, b = key("registry"), key("node-a"), key("node-b")
    await funded(chain, reg)
    async with BlockbookV1Reader(chain.url) as reader:
        pub = Publisher(reader, reg)
        await pub.publish_many(make_registry_update(add_nodes=[(a.address, a.pubkey_hex, "a:1")]))
        await chain.mine(1)
        client = await Client.from_chain(
            key("user"), explorer=chain.url, registry=reg.address, min_confirmations=1,
            registry_refresh=0.2,
        )  # fmt: skip
        try:
            assert list(client.network.nodes) == [a.address]
            await pub.publish_many(
                make_registry_update(add_nodes=[(b.address, b.pubkey_hex, "b:1")])
            )
            await chain.mine(1)
            for _ in range(300):  # up to 15 s: one refresh takes a little over a second
                if len(client.network.nodes) == 2:
                    break
                await asyncio.sleep(0.05)
            assert sorted(client.network.nodes) == sorted([a.address, b.address])
            assert client.network.nodes[b.address].ws_url == "wss://b:1/ws"
        finally:
            await client.aclose()
