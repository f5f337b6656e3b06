"""`flocloud chain publish` and `chain state` against the dev chain, as real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flocloud.devnet.network import ChainProcess, deterministic_key, free_port

EXE = [sys.executable, "-m", "flocloud.cli"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainProcess]:
    import asyncio

    proc = ChainProcess.make(tmp_path_factory.mktemp("chaincli"), free_port(), block_interval=0)
    proc.start()
    asyncio.run(proc.wait_healthy(30))
    yield proc
    proc.stop()


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def state_of(chain: ChainProcess, registry: str, *extra: str) -> dict[str, Any]:
    out = run(
        "chain", "state", "--explorer", chain.url, "--registry", registry,
        "--confirmations", "1", "--json", *extra,
    )  # fmt: skip
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def test_publish_then_state_once_confirmed(chain: ChainProcess) -> None:
    """An update published with the CLI shows up in `chain state` once a block confirms
    it, in the format real servers read: bare URI, flocloud endpoint in an extra key,
    addApps values plain IDs; trusted IDs and sub-admins come from `chain admin`."""
    reg, node, admin, helper = (
        deterministic_key("cli-registry"),
        deterministic_key("cli-node"),
        deterministic_key("cli-admin"),
        deterministic_key("cli-helper"),
    )
    for k in (reg, admin):
        run("devchain", "faucet", k.address, "--amount", "2", "--mine", "--url", chain.url)
    published = run(
        "chain", "publish", "--explorer", chain.url, "--wif", reg.to_wif(),
        "--add-node", node.address, node.pubkey_hex, "sn1.example.org:8443",
        "--endpoint", node.address, "wss://sn1.example.org:8443/ws",
        "--config", "backupDepth=2", "--config", "name=test net",
        "--add-app", "demo", admin.address, "--json",
    )  # fmt: skip
    txids = json.loads(published.stdout)["txids"]
    assert len(txids) == 1
    run(
        "chain", "admin", "demo", "--explorer", chain.url, "--wif", admin.to_wif(),
        "--add-sub-admin", helper.address, "--add-trusted", node.address,
    )  # fmt: skip
    assert state_of(chain, reg.address)["nodes"] == []  # not confirmed yet
    run("devchain", "mine", "--url", chain.url)
    state = state_of(chain, reg.address)
    assert state["nodes"] == [
        {
            "id": node.address,
            "pubKey": node.pubkey_hex,
            "uri": "sn1.example.org:8443",
            "ws": "wss://sn1.example.org:8443/ws",
            "flocloud": "wss://sn1.example.org:8443/ws",
        }
    ]
    assert state["config"] == {"backupDepth": 2, "name": "test net"}
    assert state["apps"] == [
        {
            "name": "demo",
            "admin": admin.address,
            "subAdmins": [helper.address],
            "trusted": [node.address],
            "settings": {},
        }
    ]
    tip = json.loads(run("devchain", "status", "--url", chain.url, "--json").stdout)["bestHeight"]
    assert state["epoch"]["height"] == tip
    table = run(
        "chain", "state", "--explorer", chain.url, "--registry", reg.address,
        "--confirmations", "1",
    ).stdout  # fmt: skip
    assert node.address in table and "demo" in table and helper.address in table


def test_devchain_reorg_command_undoes_an_update(chain: ChainProcess) -> None:
    """`devchain reorg --drop` replaces the newest block; `chain state` follows the new
    best chain (the update in the replaced block is gone)."""
    reg, node = deterministic_key("cli-reorg-registry"), deterministic_key("cli-reorg-node")
    run("devchain", "faucet", reg.address, "--amount", "2", "--mine", "--url", chain.url)
    run(
        "chain", "publish", "--explorer", chain.url, "--wif", reg.to_wif(),
        "--add-node", node.address, node.pubkey_hex, "n.example.org",
    )  # fmt: skip
    run("devchain", "mine", "--url", chain.url)
    assert [n["id"] for n in state_of(chain, reg.address)["nodes"]] == [node.address]
    out = run("devchain", "reorg", "--depth", "1", "--drop", "--url", chain.url)
    assert "replaced 1 block" in out.stdout
    assert state_of(chain, reg.address)["nodes"] == []


def test_publish_errors(chain: ChainProcess) -> None:
    """No funds, no changes, a bad WIF, a bad config value, an explorer that never answers
    (--timeout holds): one-line errors and a non-zero exit."""
    poor = deterministic_key("cli-poor")
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        mute = f"http://127.0.0.1:{silent.getsockname()[1]}"
        cases = [
            ("chain", "publish", "--explorer", chain.url, "--wif", poor.to_wif(), "--config", "a=1"),
            ("chain", "publish", "--explorer", chain.url, "--wif", poor.to_wif()),
            ("chain", "publish", "--explorer", chain.url, "--wif", "nonsense", "--config", "a=1"),
            ("chain", "publish", "--explorer", chain.url, "--wif", poor.to_wif(),
             "--config", "virtualNodes=2000"),
            ("chain", "state", "--explorer", "http://127.0.0.1:9", "--registry", poor.address),
            ("chain", "state", "--network", "testnet", "--explorer", chain.url),
        ]  # fmt: skip
        for args in cases:
            out = run(*args, check=False)
            assert out.returncode != 0 and "Traceback" not in out.stderr, args
            assert out.stderr.strip(), args
        started = time.monotonic()
        out = run(
            "chain", "state", "--explorer", mute, "--registry", poor.address, "--timeout", "1.5",
            check=False,
        )  # fmt: skip
        took = time.monotonic() - started
    assert out.returncode != 0 and "within 1.5 s" in out.stderr, out.stderr
    assert took < 15, took  # the deadline holds for the whole command, not per retry


@pytest.mark.live
@pytest.mark.skipif(
    os.environ.get("FLOCLOUD_LIVE") != "1",
    reason="live explorers are opt-in: FLOCLOUD_LIVE=1 [FLOCLOUD_LIVE_EXPLORER=<url>]",
)
def test_live_mainnet_registry() -> None:
    """Reads the existing FLO cloud's registry through a public explorer (opt-in only):
    `chain state --network mainnet` with the preset registry and explorers."""
    extra = (
        ["--explorer", os.environ["FLOCLOUD_LIVE_EXPLORER"]]
        if os.environ.get("FLOCLOUD_LIVE_EXPLORER")
        else []
    )
    out = run("chain", "state", "--network", "mainnet", *extra, "--json", "--timeout", "120")
    state = json.loads(out.stdout)
    assert state["nodes"], "the live registry lists supernodes"
    assert all(n["id"].startswith("F") for n in state["nodes"])
    assert all("://" not in n["uri"] for n in state["nodes"])  # bare URIs: TLS
    assert state["apps"] and all(a["admin"].startswith("F") for a in state["apps"])
    assert state["epoch"]["height"] > 0


def test_publish_dry_run_and_the_mainnet_prompt() -> None:
    """`--dry-run` prints the floData and sends nothing (no explorer is even asked); on
    mainnet a publish without `--yes` and without a terminal is refused before any read."""
    from flocloud.protocol.keys import PrivateKey
    from flocloud.protocol.params import MAINNET

    key = PrivateKey(bytes(31) + b"\x07", MAINNET)
    node = PrivateKey(bytes(31) + b"\x08", MAINNET)
    args = ("chain", "publish", "--network", "mainnet", "--explorer", "http://127.0.0.1:9",
            "--wif", key.to_wif(), "--add-node", node.address, node.pubkey_hex, "sn.example:443")  # fmt: skip
    dry = json.loads(run(*args, "--dry-run", "--json").stdout)
    assert dry["sender"] == key.address and dry["network"] == "mainnet"
    entry = json.loads(dry["floData"][0])["SuperNodeStorage"]["newNodes"][node.address]
    assert entry == {"pubKey": node.pubkey_hex.upper(), "uri": "sn.example:443"}
    refused = run(*args, check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
