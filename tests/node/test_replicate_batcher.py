"""The sending side of ``peer.replicate.batch`` (``node/replicate.py``): frames per peer and
loop iteration, one outcome per write, chunking at the limits, and single frames to a peer
that does not know the op. The transport is a recording function standing in for the
peer link (the real links are exercised in tests/functional/test_replicate_batch.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from flocloud.node.replicate import BATCH_OP, SINGLE_SECONDS, ReplicaBatcher
from flocloud.protocol.errors import BadFormat, Unavailable


class Peer:
    """Answers like a peer: each record whose envelope says ``bad`` is refused alone."""

    def __init__(self, *, knows_batch: bool = True, down: bool = False) -> None:
        self.knows_batch = knows_batch
        self.down = down
        self.frames: list[tuple[str, str, list[Any]]] = []

    async def request(self, peer: str, op: str, fields: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        if self.down:
            raise Unavailable("connection refused")
        if op == BATCH_OP:
            if not self.knows_batch:
                raise BadFormat(f"Invalid value '{op}' - at `$.op`")
            records = [orjson.loads(orjson.dumps(f)) for f in fields["records"]]
            self.frames.append((peer, op, records))
            return {"results": [self.outcome(r) for r in records]}
        self.frames.append((peer, op, [fields]))
        if "error" in self.outcome(fields):
            raise BadFormat("bad record")
        return {"duplicate": False}

    @staticmethod
    def outcome(record: dict[str, Any]) -> dict[str, Any]:
        if record["envelope"].get("bad"):
            return {"error": {"code": "invalid-signature", "message": "no"}}
        return {"duplicate": False}


def rec(i: int, *, bad: bool = False, pad: int = 0) -> tuple[dict[str, Any], bytes]:
    r: dict[str, Any] = {"envelope": {"i": i, "bad": bad, "pad": "x" * pad}, "dots": []}
    return r, orjson.dumps(r)


async def test_writes_of_one_iteration_share_a_frame_with_an_outcome_each() -> None:
    peer = Peer()
    b = ReplicaBatcher(peer.request)
    futs = [b.send("p1", *rec(i, bad=i == 2)) for i in range(5)]
    futs.append(b.send("p2", *rec(9)))
    assert await asyncio.gather(*futs) == [True, True, False, True, True, True]
    by_peer = {(p, op): [r["envelope"]["i"] for r in rs] for p, op, rs in peer.frames}
    assert by_peer == {("p1", BATCH_OP): [0, 1, 2, 3, 4], ("p2", BATCH_OP): [9]}
    # a write queued after the flush goes in the next frame
    assert await b.send("p1", *rec(5)) is True
    assert len(peer.frames) == 3


async def test_frames_stay_within_the_limits() -> None:
    peer = Peer()
    b = ReplicaBatcher(peer.request, max_records=3, max_bytes=2000)
    futs = [b.send("p", *rec(i)) for i in range(7)]
    futs.append(b.send("p", *rec(7, pad=1920)))  # ~1970 bytes: no room beside 6
    futs.append(b.send("p", *rec(8, pad=3000)))  # over max_bytes: alone, a single frame
    assert all(await asyncio.gather(*futs))
    frames = [(op, [r["envelope"]["i"] for r in rs]) for _, op, rs in peer.frames]
    assert frames == [
        (BATCH_OP, [0, 1, 2]),
        (BATCH_OP, [3, 4, 5]),
        (BATCH_OP, [6]),
        (BATCH_OP, [7]),
        ("peer.replicate", [8]),
    ]


async def test_a_peer_without_the_batch_op_gets_single_frames() -> None:
    now = [0.0]
    peer = Peer(knows_batch=False)
    b = ReplicaBatcher(peer.request, clock=lambda: now[0])
    futs = [b.send("old", *rec(i, bad=i == 1)) for i in range(3)]
    assert await asyncio.gather(*futs) == [True, False, True]  # each record's own outcome
    assert [(op, len(rs)) for _, op, rs in peer.frames] == [("peer.replicate", 1)] * 3
    # the next writes go single at once, without trying the batch op again
    assert await asyncio.gather(*(b.send("old", *rec(i)) for i in (3, 4))) == [True, True]
    assert [op for _, op, _ in peer.frames] == ["peer.replicate"] * 5
    # after SINGLE_SECONDS a batch is tried again: an upgraded peer takes it
    now[0] += SINGLE_SECONDS + 1
    peer.knows_batch = True
    assert await asyncio.gather(*(b.send("old", *rec(i)) for i in (5, 6))) == [True, True]
    assert peer.frames[-1][1] == BATCH_OP and len(peer.frames[-1][2]) == 2


async def test_a_failed_frame_fails_each_of_its_writes() -> None:
    b = ReplicaBatcher(Peer(down=True).request)
    assert await asyncio.gather(*(b.send("p", *rec(i)) for i in range(3))) == [False] * 3

    async def no_results(peer: str, op: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {"results": [{"duplicate": False}]}  # one result for two records

    b = ReplicaBatcher(no_results)
    assert await asyncio.gather(b.send("p", *rec(0)), b.send("p", *rec(1))) == [False, False]


async def test_a_cancelled_send_resolves_its_writes() -> None:
    started = asyncio.Event()

    async def hangs(peer: str, op: str, fields: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    b = ReplicaBatcher(hangs)
    futs = [b.send("p", *rec(i)) for i in range(2)]
    await started.wait()
    for task in list(b._tasks):
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.gather(*b._tasks)
    assert [f.result() for f in futs] == [False, False]
