"""`flocloud chain publish` and `chain state` against the dev chain, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

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


def test_publish_then_state_once_confirmed(chain: ChainProcess) -> None:
    """An update published with the CLI shows up in `chain state` once a block confirms it."""
    reg, node, admin = (
        deterministic_key("cli-registry"),
        deterministic_key("cli-node"),
        deterministic_key("cli-admin"),
    )
    run("devchain", "faucet", reg.address, "--amount", "2", "--mine", "--url", chain.url)
    published = run(
        "chain", "publish", "--explorer", chain.url, "--wif", reg.to_wif(),
        "--add-node", node.address, node.pubkey_hex, "ws://127.0.0.1:1/ws",
        "--config", "backupDepth=2", "--config", "name=test net",
        "--add-app", "demo", admin.address, "--trusted", "demo", node.address, "--json",
    )  # fmt: skip
    txids = json.loads(published.stdout)["txids"]
    assert len(txids) == 1
    before = json.loads(
        run("chain", "state", "--explorer", chain.url, "--registry", reg.address, "--json").stdout
    )
    assert before["nodes"] == []  # not confirmed yet
    run("devchain", "mine", "--url", chain.url)
    state = json.loads(
        run("chain", "state", "--explorer", chain.url, "--registry", reg.address, "--json").stdout
    )
    assert state["nodes"] == [
        {"id": node.address, "pubKey": node.pubkey_hex, "uri": "ws://127.0.0.1:1/ws"}
    ]
    assert state["config"] == {"backupDepth": 2, "name": "test net"}
    assert state["apps"] == [{"name": "demo", "admin": admin.address, "trusted": [node.address]}]
    assert state["epoch"]["txid"] == txids[0]
    table = run("chain", "state", "--explorer", chain.url, "--registry", reg.address).stdout
    assert node.address in table and "demo" in table


def test_publish_errors(chain: ChainProcess) -> None:
    """No funds, no changes, a bad WIF: one-line errors and a non-zero exit."""
    poor = deterministic_key("cli-poor")
    cases = [
        ("chain", "publish", "--explorer", chain.url, "--wif", poor.to_wif(), "--config", "a=1"),
        ("chain", "publish", "--explorer", chain.url, "--wif", poor.to_wif()),
        ("chain", "publish", "--explorer", chain.url, "--wif", "nonsense", "--config", "a=1"),
        (
            "chain",
            "publish",
            "--explorer",
            chain.url,
            "--wif",
            poor.to_wif(),
            "--legacy",
            "--add-node",
            poor.address,
            poor.pubkey_hex,
            "ws://127.0.0.1:1/ws",
        ),
        ("chain", "state", "--explorer", "http://127.0.0.1:9", "--registry", poor.address),
    ]
    for args in cases:
        out = run(*args, check=False)
        assert out.returncode != 0 and "Traceback" not in out.stderr, args
        assert out.stderr.strip(), args


@pytest.mark.live
@pytest.mark.skipif(
    os.environ.get("FLOCLOUD_LIVE") != "1",
    reason="live explorers are opt-in: FLOCLOUD_LIVE=1 FLOCLOUD_LIVE_EXPLORER=<url>",
)
def test_live_mainnet_registry() -> None:
    """Reads RanchiMall's real SuperNodeStorage registry from a live Blockbook (opt-in only)."""
    url = os.environ["FLOCLOUD_LIVE_EXPLORER"]
    out = run(
        "chain",
        "state",
        "--network",
        "mainnet",
        "--explorer",
        url,
        "--registry",
        "FNaN9McoBAEFUjkRmNQRYLmBF8SpS7Tgfk",
        "--json",
    )
    state = json.loads(out.stdout)
    assert state["nodes"], "the live registry lists supernodes"
    assert all(n["id"].startswith("F") for n in state["nodes"])
