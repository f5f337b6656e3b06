"""The dev chain: real validation, mining, persistence, Blockbook v1 shapes, faucet, CLI."""

from __future__ import annotations

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
from flocloud.chain.publisher import DUST_LIMIT, Publisher, build_data_tx
from flocloud.chain.reader import Utxo
from flocloud.chain.registry import RegistryReader, make_registry_update
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
        """Blockbook v1 shapes (floData absent when empty) and a registry read back."""
        reg, node, stranger = key("registry"), key("node-1"), key("stranger")
        await funded(chain, reg)
        await funded(chain, stranger)
        async with BlockbookV1Reader(chain.url) as reader:
            updates = make_registry_update(
                add_nodes=[(node.address, node.pubkey_hex, "ws://127.0.0.1:1/ws")],
                config={"backupDepth": 2},
                add_apps={
                    "demo": {
                        "admin": reg.address,
                        "trusted": [stranger.address],
                        "strictObjects": ["strict/*"],
                    }
                },
            )
            await Publisher(reader, reg).publish_many(updates)
            # noise the registry must skip: another sender; bad JSON; a node whose key lies
            await Publisher(reader, stranger).publish(b'{"SuperNodeStorage":{"removeNodes":["x"]}}')
            await Publisher(reader, reg).publish(b"not json")
            liar = {"newNodes": {key("n2").address: {"pubKey": node.pubkey_hex, "uri": "x"}}}
            import json

            await Publisher(reader, reg).publish(json.dumps({"SuperNodeStorage": liar}).encode())
            unconfirmed = await RegistryReader(reader, reg.address, REGTEST).load()
            assert unconfirmed.nodes == ()
            await chain.mine(1)
            state = await RegistryReader(reader, reg.address, REGTEST).load()
            page = await reader.address_txs(reg.address)
        assert [n.id for n in state.nodes] == [node.address]
        assert state.replication_factor == 1  # backupDepth 2 but only one node
        assert state.app("demo") is not None and state.app("demo").trusted == (stranger.address,)  # type: ignore[union-attr]
        assert state.app("demo").strict == ("strict/*",)  # type: ignore[union-attr]
        reasons = [r for _, r in state.skipped]
        assert any("not JSON" in r for r in reasons)
        assert any("does not hash" in r for r in reasons)
        funding = [t for t in page.txs if t.flo_data == "faucet"]
        assert funding and all(t.sender == chain.faucet_address for t in funding)

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
