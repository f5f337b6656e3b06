"""A seeded, bounded fuzz run against a live supernode: tens of thousands of random and
schema-shaped inputs over websockets and HTTP. Every reply must be a stable error code of
``flocloud.protocol.errors`` (never ``internal``, never a plain-text page), every request
gets exactly one reply, and afterwards the node still serves a well-behaved client.
The seed is printed; ``FLOCLOUD_FUZZ_SEED`` replays a run."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from flocloud.devnet.network import NodeProcess
from fuzzing import Fuzzer, Tally, fuzz_http, fuzz_raw_http, fuzz_websocket
from node_helpers import ALICE, BOB, env, start_node

WS_INPUTS = 20_000
HTTP_INPUTS = 2_500
RAW_INPUTS = 150
SEED = int(os.environ.get("FLOCLOUD_FUZZ_SEED", "1301"))


@pytest.fixture(scope="module")
def fuzz_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = start_node(
        tmp_path_factory.mktemp("fuzz"),
        "rate_per_connection = 1e9\nburst_per_connection = 1000000000\nmax_depth = 16",
    )
    yield proc
    proc.stop()


@pytest.fixture
async def good_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client connecting from another loopback source than the fuzzer."""
    conn = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=conn) as session:
        yield session


async def still_serves(node: NodeProcess, session: aiohttp.ClientSession) -> None:
    """A well-behaved client writes, reads back and pings."""
    e = env(ALICE, BOB.address, {"still": "here"})
    async with session.ws_connect(node.ws_url) as ws:
        await ws.send_bytes(orjson.dumps({"id": "w", "op": "put", "envelope": e.to_wire()}))
        ack = orjson.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        assert ack["ok"] is True and ack["msgId"] == e.id, ack
        q = {"id": "q", "op": "query", "filter": {"receiver": BOB.address, "ids": [e.id]}}
        await ws.send_bytes(orjson.dumps(q))
        page = orjson.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        assert [m["id"] for m in page["messages"]] == [e.id]
    async with session.get(node.url + "/healthz") as resp:
        assert resp.status == 200


def assert_clean(tally: Tally, node: NodeProcess) -> None:
    assert not tally.bad, "\n".join(tally.bad[:20])
    log = node.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "internal error" not in log, node.log_tail(40)


async def test_fuzz_live_node(fuzz_node: NodeProcess, good_session: aiohttp.ClientSession) -> None:
    print(f"fuzz seed {SEED} (FLOCLOUD_FUZZ_SEED to replay)")
    fz = Fuzzer(SEED)
    tally = Tally()
    for phase, run, n in (
        ("websocket", fuzz_websocket, WS_INPUTS),
        ("http", fuzz_http, HTTP_INPUTS),
        ("raw http", fuzz_raw_http, RAW_INPUTS),
    ):
        t0 = time.monotonic()
        await run(fuzz_node, fz, n, tally)
        print(f"{phase}: {n} inputs in {time.monotonic() - t0:.1f} s")
    print(f"inputs {tally.inputs}, replies by code {dict(tally.codes.most_common())}")
    assert_clean(tally, fuzz_node)
    assert tally.inputs >= WS_INPUTS + HTTP_INPUTS // 2
    # the inputs reached the checks that matter, not just the JSON parser
    assert tally.codes["ok"] > 100 and tally.codes["bad-format"] > 1000
    for code in ("invalid-signature", "forbidden", "too-large", "not-found", "stale-time"):
        assert tally.codes[code] > 0, (code, tally.codes)
    await still_serves(fuzz_node, good_session)


def test_fuzzer_is_seeded(tmp_path: Path) -> None:
    """The same seed gives the same inputs (a failing run can be replayed)."""
    a, b = Fuzzer(7, now_ms=1_700_000_000_000), Fuzzer(7, now_ms=1_700_000_000_000)
    assert [a.frame() for _ in range(200)] == [b.frame() for _ in range(200)]
