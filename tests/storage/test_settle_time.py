"""Anti-entropy settles a write at the earlier of its signed time and the node's receive
time (issue 13): a client can date a write ahead, never its arrival."""

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
    recent = build_envelope(a, receiver=b.address, payload=3, time_ms=40_000)
    await store.put(ahead, 1_000)  # received at t=1 s
    await store.put(old, 50_000)  # received at t=50 s (repaired late: signed long ago)
    await store.put(recent, 45_000)  # signed at 40 s, received at 45 s
    # settled at t=10 s: the write received then, whatever its date, and the old one
    assert sorted(await store.receiver_ids(b.address, max_time=10_000)) == sorted(
        [ahead.id, old.id]
    )
    [fp] = await store.id_fingerprints(b.address, [""], max_time=10_000)
    assert fp.count == 2
    [fp] = await store.id_fingerprints(b.address, [""], max_time=42_000)
    assert fp.count == 3
    # a query page stops at about max_bytes of bodies, and says more remain
    page = await store.query(MessageFilter(b.address, limit=10, max_bytes=1))
    assert len(page.records) == 1 and page.more
    await store.close()
