"""Anti-entropy's settle bound is the node's receive time, not the signed client time
(issue 13): a client chooses its time, the node does not."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import MessageFilter


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


async def test_id_ranges_bound_by_receive_time(tmp_path: Path) -> None:
    a, b = key("settle-a"), key("settle-b")
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    year = 365 * 24 * 3600_000
    ahead = build_envelope(a, receiver=b.address, payload=1, time_ms=10 * year)  # dated ahead
    old = build_envelope(a, receiver=b.address, payload=2, time_ms=1)  # dated long ago
    await store.put(ahead, 1_000)  # received at t=1 s
    await store.put(old, 50_000)  # received at t=50 s
    # settled at t=10 s: the write received then is in, whatever its signed time
    assert await store.receiver_ids(b.address, max_time=10_000) == [ahead.id]
    [fp] = await store.id_fingerprints(b.address, [""], max_time=10_000)
    assert fp.count == 1
    [fp] = await store.id_fingerprints(b.address, [""], max_time=60_000)
    assert fp.count == 2
    # a query page stops at about max_bytes of bodies, and says more remain
    page, more = await store.query(MessageFilter(b.address, limit=10, max_bytes=1))
    assert len(page) == 1 and more
    await store.close()
