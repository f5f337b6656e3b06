"""Objects on a real network (chain + 3 supernodes, N = 3, W = 2): the findings of issue 11
as regression tests, a linearizability check of strict objects under faults, and a
convergence check of merge objects under a partition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from flocloud.client.connection import NodeConnection
from flocloud.devnet import Network
from flocloud.protocol.envelope import Envelope, build_envelope
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.objectlog import parse_version, version_of
from flocloud.protocol.objects import canonical, object_id
from flocloud.protocol.params import REGTEST
from net_helpers import running_network
from sim.convergence import check_convergence, replica_from_wire
from sim.linearizability import Op, cas_register, check

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_network(tmp_path_factory.mktemp("objnet"), nodes=3, block_interval=0.5)


@pytest.fixture
async def conns(devnet: Network) -> AsyncIterator[list[NodeConnection]]:
    """One client connection to each node (writes go through the node we pick)."""
    async with aiohttp.ClientSession() as session:
        out = []
        for node in devnet.nodes:
            conn = NodeConnection(node.ws_url, session, timeout=8)
            await conn.connect()
            out.append(conn)
        yield out
        for conn in out:
            await conn.close()


def obj_write(devnet: Network, name: str, kind: str, payload: dict[str, Any]) -> Envelope:
    return build_envelope(
        devnet.client_key,
        receiver=object_id("demo", name, REGTEST),
        payload={"name": name, **payload},
        time_ms=int(time.time() * 1000),
        application="demo",
        type=f"flocloud.object.{kind}",
    )


async def converged(devnet: Network, name: str) -> tuple[str, Any]:
    """Wait until every replica holds the same (version, value); return it."""

    async def same() -> tuple[str, Any] | None:
        states = list((await devnet.objects_on("demo", name)).values())
        first = states[0]
        if first[0] != "0" and all(
            s[0] == first[0] and canonical(s[1]) == canonical(first[1]) for s in states
        ):
            return first
        return None

    result: tuple[str, Any] = await devnet.wait_until(same, 30, what=f"replicas of {name}")
    return result


async def test_two_resets_through_two_replicas(
    devnet: Network, conns: list[NodeConnection]
) -> None:
    """Finding 1: two resets sent at once through two replicas. Every replica ends with one
    value and one version naming both writes, and the same history from any replica."""
    r1 = obj_write(devnet, "who", "reset", {"value": {"who": "R1"}})
    r2 = obj_write(devnet, "who", "reset", {"value": {"who": "R2"}})
    acks = await asyncio.gather(
        conns[0].request("put", envelope=r1.to_wire()),
        conns[1].request("put", envelope=r2.to_wire()),
    )
    # each ack is the node's version after the write: its own, or both if the other came first
    assert all(parse_version(a["version"])[0] in (1, 2) for a in acks)
    version, value = await converged(devnet, "who")
    assert version == version_of([r1.id, r2.id], 2)
    # the tie-break: the larger (time, id) is folded last and wins
    last = max((r1, r2), key=lambda e: (e.body.time, e.id))
    assert value == last.body.payload["value"]
    histories = [
        [
            c["msgId"]
            for c in (
                await c.request("object.changes", application="demo", name="who", since_version="0")
            )["changes"]
        ]
        for c in conns
    ]
    assert histories[0] == histories[1] == histories[2] and histories[0][-1] == last.id
    # an incremental read from a replica that saw the other write first is exact too
    since = acks[0]["version"]
    for c in conns:
        diff = await c.request("object.changes", application="demo", name="who",
                               since_version=since, mode="diff")  # fmt: skip
        assert diff["version"] == version


async def test_concurrent_cas_through_two_replicas(
    devnet: Network, conns: list[NodeConnection]
) -> None:
    """Finding 2: two compare-and-set writes at one version through two replicas, many times
    over: at most one is acknowledged each time, the loser hears version-conflict (or
    unavailable when the rounds collided), and every replica ends with the winners."""
    name = "strict/cas"
    first = obj_write(devnet, name, "reset", {"value": 0, "parents": [], "expected_version": "0"})
    ack = await conns[0].request("put", envelope=first.to_wire())
    version, heads = ack["version"], [first.id]
    winners = []
    for i in range(6):
        a = obj_write(
            devnet, name, "reset", {"value": f"a{i}", "parents": heads, "expected_version": version}
        )
        b = obj_write(
            devnet, name, "reset", {"value": f"b{i}", "parents": heads, "expected_version": version}
        )
        results = await asyncio.gather(
            conns[i % 3].request("put", envelope=a.to_wire()),
            conns[(i + 1) % 3].request("put", envelope=b.to_wire()),
            return_exceptions=True,
        )
        ok = [(e, r) for e, r in zip((a, b), results, strict=True) if isinstance(r, dict)]
        assert len(ok) <= 1, results
        for r in results:
            if not isinstance(r, dict):
                assert isinstance(r, FlocloudError) and r.code in (
                    "version-conflict",
                    "unavailable",
                )
        if ok:
            winners.append(ok[0][0].id)
            version, heads = ok[0][1]["version"], [ok[0][0].id]
        else:  # both unsure: read what was chosen, if anything
            state = await conns[0].request("object.get", application="demo", name=name)
            version, heads = state["version"], state["heads"]
    assert winners, "no round had a winner"
    final, _ = await converged(devnet, name)
    history = (await conns[2].request("object.changes", application="demo", name=name,
                                      since_version="0"))["changes"]  # fmt: skip
    assert final == version and set(winners) <= {c["msgId"] for c in history}
    assert parse_version(final)[0] == len(history)  # one chain: every write follows the last


async def test_diffs_are_exact_from_every_replica(
    devnet: Network, conns: list[NodeConnection]
) -> None:
    """Finding 3: nested type changes ({"x": 1} -> {"x": true}, [1] -> [1.0]) and a null in
    an array: the diff from every replica turns the old value into the new one, byte for
    byte in canonical JSON."""
    from flocloud.protocol.objects import merge_patch

    old = {"x": 1, "a": [1], "n": {"keep": 0, "drop": 1}}
    root = obj_write(devnet, "types", "reset", {"value": old})
    await conns[0].request("put", envelope=root.to_wire())
    change = {"x": True, "a": [1.0, None], "n": {"drop": None}}
    patch = obj_write(devnet, "types", "patch", {"patch": change, "parents": [root.id]})
    await conns[1].request("put", envelope=patch.to_wire())
    _, now = await converged(devnet, "types")
    assert canonical(now) == canonical({"x": True, "a": [1.0, None], "n": {"keep": 0}})
    for c in conns:
        diff = await c.request("object.changes", application="demo", name="types",
                               since_version="1-" + root.id[:24], mode="diff")  # fmt: skip
        assert diff["kind"] == "patch"
        assert canonical(merge_patch(old, diff["patch"])) == canonical(now)


async def test_lists_never_become_chimeras(devnet: Network, conns: list[NodeConnection]) -> None:
    """Finding 4: [1,2,3]; through one replica remove the first element, through another
    append 4, at once: every replica ends with [2, 3, 4]."""
    root = obj_write(devnet, "list", "reset", {"value": {"items": [1, 2, 3]}})
    await conns[0].request("put", envelope=root.to_wire())
    rm = obj_write(
        devnet, "list", "list", {"op": "remove", "path": ["items"], "item": 1, "parents": [root.id]}
    )
    add = obj_write(
        devnet, "list", "list", {"op": "append", "path": ["items"], "item": 4, "parents": [root.id]}
    )
    try:
        await asyncio.gather(
            conns[1].request("put", envelope=rm.to_wire()),
            conns[2].request("put", envelope=add.to_wire()),
        )
    except FlocloudError as exc:  # seen once (stop 23), not reproduced: say what the nodes saw
        raise AssertionError(f"{exc.code}: {exc.message}\n{await _refusals(devnet)}") from exc
    _, value = await converged(devnet, "list")
    assert value == {"items": [2, 3, 4]}


async def _refusals(devnet: Network) -> str:
    """Each node's refusal and replication counters (its /metrics), for a failure message."""
    out = []
    async with aiohttp.ClientSession() as session:
        for node in devnet.nodes:
            async with session.get(f"{node.url}/metrics") as resp:
                text = await resp.text()
            lines = [
                ln
                for ln in text.splitlines()
                if ln.startswith(("flocloud_requests_rejected", "flocloud_replicat"))
            ]
            out.append(f"{node.name}: " + "; ".join(lines))
    return "\n".join(out)


async def test_a_write_based_on_a_version_another_replica_just_acked(
    devnet: Network, conns: list[NodeConnection]
) -> None:
    """A patch sent to a replica that has not got its parent yet (acked a moment ago through
    another replica, which cannot reach this one) is taken: the node fetches what the
    object's other replicas hold and tries once more, instead of answering not-found."""
    await devnet.partitioned([0], [2])  # node 0 cannot replicate to node 2; node 1 can
    try:
        root = obj_write(devnet, "late", "reset", {"value": {"n": 0}})
        ack = await conns[0].request("put", envelope=root.to_wire())
        assert ack["replicas"] >= 2  # node 0 and node 1
        patch = obj_write(devnet, "late", "patch", {"patch": {"n": 1}, "parents": [root.id]})
        ack = await conns[2].request("put", envelope=patch.to_wire())
        assert parse_version(ack["version"])[0] == 2  # folded on the root, fetched from node 1
    finally:
        devnet.heal()
    _, value = await converged(devnet, "late")
    assert value == {"n": 1}


async def test_merge_writes_converge_across_a_partition(
    devnet: Network, conns: list[NodeConnection]
) -> None:
    """Merge writes are accepted on both sides of a partition and never lost: the side
    below the quorum stores them and says so (``unavailable``, ``replicas: 1``); patches to
    different fields and list appends from both sides all survive the heal."""
    root = obj_write(devnet, "board", "reset", {"value": {"items": []}})
    await conns[0].request("put", envelope=root.to_wire())
    await converged(devnet, "board")
    devnet.partition([0], [1, 2])
    try:
        await asyncio.sleep(1.5)  # the nodes read their fault files
        w0 = [obj_write(devnet, "board", "patch", {"patch": {"left": True}, "parents": [root.id]}),
              obj_write(devnet, "board", "list", {"op": "append", "path": ["items"], "item": "L", "parents": [root.id]})]  # fmt: skip
        w1 = [obj_write(devnet, "board", "patch", {"patch": {"right": 1.0}, "parents": [root.id]}),
              obj_write(devnet, "board", "list", {"op": "append", "path": ["items"], "item": "R", "parents": [root.id]})]  # fmt: skip
        for e in w0:  # the lonely side stores them but cannot make W=2: unavailable, kept
            with pytest.raises(FlocloudError) as below:
                await conns[0].request("put", envelope=e.to_wire())
            assert below.value.code == "unavailable" and below.value.details["replicas"] == 1
        for e in w1:
            await conns[1].request("put", envelope=e.to_wire())
    finally:
        devnet.heal()
    version, value = await converged(devnet, "board")
    assert value["left"] is True and value["right"] == 1.0 and type(value["right"]) is float
    assert sorted(value["items"]) == ["L", "R"] and parse_version(version)[0] == 5
    replicas = {}
    for i, c in enumerate(conns):
        state = await c.request("object.get", application="demo", name="board")
        changes = await c.request("object.changes", application="demo", name="board",
                                  since_version="0")  # fmt: skip
        replicas[f"node {i}"] = replica_from_wire(state, changes)
    assert check_convergence(replicas, settled=True) == []


async def test_strict_objects_are_linearizable_under_faults(
    devnet: Network, conns: list[NodeConnection]
) -> None:
    """Concurrent writers on every node, each a consistent read then a compare-and-set,
    while a replica is killed and restarted, then one is partitioned from the others: the
    recorded history of reads and writes is linearizable (Wing-Gong checker); with two of
    the three replicas down a strict write is unavailable, never acknowledged."""
    name = "strict/lin"
    history: list[Op] = []
    t0 = time.monotonic()

    async def one(conn: NodeConnection, w: int, i: int) -> None:
        """A consistent read from this node, then a compare-and-set from what it returned;
        both are recorded (a failed read only as the base it leaves: "0")."""
        call = time.monotonic() - t0
        try:
            state = await conn.request("object.get", application="demo", name=name,
                                       consistent=True)  # fmt: skip
            base, heads, count = state["version"], state["heads"], state["count"]
            history.append(Op(call, time.monotonic() - t0, ("read",), base))
        except FlocloudError as exc:
            if exc.code != "not-found":
                return
            history.append(Op(call, time.monotonic() - t0, ("read",), "0"))
            base, heads, count = "0", [], 0
        e = obj_write(devnet, name, "reset", {"value": f"w{w}-{i}", "parents": heads,
                                             "expected_version": base})  # fmt: skip
        new = version_of([e.id], count + 1)
        call = time.monotonic() - t0
        try:
            await conn.request("put", envelope=e.to_wire())
            history.append(Op(call, time.monotonic() - t0, ("cas", base, new), "ok"))
        except FlocloudError as exc:
            if exc.code == "version-conflict":
                history.append(Op(call, time.monotonic() - t0, ("cas", base, new), "fail"))
            else:  # unavailable, a timeout, a dead node: the outcome is unknown
                history.append(Op(call, None, ("cas", base, new)))

    async with aiohttp.ClientSession() as session:

        async def connect(i: int) -> NodeConnection:
            conn = NodeConnection(devnet.nodes[i].ws_url, session, timeout=8)
            await conn.connect()
            return conn

        done = asyncio.Event()

        async def writer(w: int, rounds: int) -> None:
            for i in range(rounds):
                if done.is_set() and i >= 5:
                    return
                try:
                    conn = await connect((w + i) % 3)
                except FlocloudError:
                    continue  # a dead node: nothing sent
                try:
                    await one(conn, w, i)
                finally:
                    await conn.close()
                await asyncio.sleep(0.1)

        async def faults() -> None:
            await asyncio.sleep(0.3)
            devnet.kill(2)
            await asyncio.sleep(1.0)
            devnet.nodes[2].start()
            await devnet.nodes[2].wait_healthy(30)
            devnet.partition([0], [1, 2])  # clients still reach node 0; its peers do not
            await asyncio.sleep(2.0)
            devnet.heal()
            done.set()

        # at most 3 x 10 x 2 ops: the checker's search keeps a 62-bit mask
        await asyncio.gather(writer(0, 10), writer(1, 10), writer(2, 10), faults())

    oks = [op for op in history if op.output == "ok"]
    # (conflicts are likely here and certain in test_concurrent_cas_through_two_replicas)
    assert len(oks) >= 5 and sum(op.known for op in history) >= 10
    assert check(cas_register("0"), history) is not None, history
    # the final state: what every replica holds once they converged, read after all ops
    final, _ = await converged(devnet, name)
    end = time.monotonic() - t0
    assert check(cas_register("0"), [*history, Op(end, end + 1, ("read",), final)]) is not None
    # no majority, no write
    devnet.kill(1)
    devnet.kill(2)
    try:
        state = await conns[0].request("object.get", application="demo", name=name)
        e = obj_write(devnet, name, "reset", {"value": "alone", "parents": state["heads"],
                                             "expected_version": state["version"]})  # fmt: skip
        with pytest.raises(FlocloudError) as refused:
            await conns[0].request("put", envelope=e.to_wire())
        assert refused.value.code == "unavailable" and "majority" in refused.value.message
    finally:
        for i in (1, 2):
            devnet.nodes[i].start()
        for i in (1, 2):
            await devnet.nodes[i].wait_healthy(30)
