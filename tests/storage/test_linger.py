"""The commit linger (storage/linger.py): the rule alone, and a store that applies it to
the writes clients hand it, on real files."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.storage.linger import CommitLinger
from flocloud.storage.sqlite import SqliteStore


def test_writes_wait_only_while_company_comes_often_enough() -> None:
    lg = CommitLinger(0.002)
    lg.arrived(10.0)
    assert lg.wait() == 0  # a first write: no gap known, no company expected
    for i in range(1, 20):  # one per millisecond: about two in a wait
        lg.arrived(10.0 + i * 0.001)
    assert lg.gap == pytest.approx(0.001)
    assert lg.wait() == 0.002
    lg.arrived(20.0)  # after an idle spell the average jumps: commit at once
    assert lg.wait() == 0
    for i in range(1, 200):  # one each 4 ms: less than one in a wait
        lg.arrived(20.0 + i * 0.004)
    assert lg.wait() == 0
    assert lg.waits == 1
    off = CommitLinger(0)
    for i in range(20):
        off.arrived(i * 1e-6)
    assert off.wait() == 0
    with pytest.raises(ValueError):
        CommitLinger(-1)


async def _spaced_puts(store: SqliteStore, n: int, every: float) -> None:
    k = PrivateKey(hashlib.sha256(b"linger-sender").digest(), REGTEST)
    to = PrivateKey(hashlib.sha256(b"linger-receiver").digest(), REGTEST).address
    envs = [build_envelope(k, receiver=to, payload={"i": i}, time_ms=1) for i in range(n)]
    tasks = []
    for env in envs:
        tasks.append(asyncio.ensure_future(store.put(env, 5)))
        await asyncio.sleep(every)
    results = await asyncio.gather(*tasks)
    assert sorted(r.seq for r in results) == [r.seq for r in results]  # committed in order


async def test_a_store_commits_writes_that_come_close_together(tmp_path: Path) -> None:
    lingering = await SqliteStore.open(tmp_path / "a.sqlite3", commit_linger=0.05)
    await _spaced_puts(lingering, 40, 0.005)  # 10 in each wait of 50 ms
    assert lingering.writes == 40
    assert lingering.commits <= 12 and lingering.linger.waits >= 3
    # replicas' writes (from peers) open no waiting batch: each commits at once
    k = PrivateKey(hashlib.sha256(b"linger-sender").digest(), REGTEST)
    commits, waits = lingering.commits, lingering.linger.waits
    for i in range(5):
        env = build_envelope(k, receiver=k.address, payload={"r": i}, time_ms=1)
        await lingering.put(env, 5, origin="peer")
    assert (lingering.commits, lingering.linger.waits) == (commits + 5, waits)
    await lingering.close()
    at_once = await SqliteStore.open(tmp_path / "b.sqlite3")  # the store's default: off
    await _spaced_puts(at_once, 40, 0.005)
    assert at_once.commits == 40 and at_once.linger.waits == 0
    await at_once.close()
