"""A single supernode as a real process: writes, queries, subscriptions, objects, limits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from flocloud.devnet.network import NodeProcess
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.objects import object_id
from flocloud.protocol.params import REGTEST
from flocloud.protocol.writes import schema_object_name
from node_helpers import ADMIN, ALICE, BOB, EVE, TRUSTED, Ws, env, key, now_ms


async def code_of(coro: Any) -> str:
    with pytest.raises(FlocloudError) as exc:
        await coro
    return exc.value.code


class TestWrites:
    async def test_put_ack_and_duplicate(self, ws: Ws) -> None:
        """A write is acked with its id and dot; the same write again is a duplicate with the
        same dot."""
        e = env(ALICE, BOB.address, {"hello": "bob"}, application="chat")
        first = await ws.put(e)
        again = await ws.put(e)
        assert first["msgId"] == e.id and first["duplicate"] is False
        assert len(first["dots"]) == 1 and first["dots"][0][1] == 1
        assert (again["dots"], again["msgId"], again["duplicate"]) == (first["dots"], e.id, True)

    async def test_bad_envelopes(self, ws: Ws) -> None:
        """Tampered, stale, too deep and malformed envelopes get their codes."""
        e = env(ALICE, BOB.address, {"x": 1})
        tampered = {**e.to_wire(), "body": e.body_text.replace('"x":1', '"x":2')}
        assert await code_of(ws.req("put", envelope=tampered)) == "invalid-signature"
        stale = env(ALICE, BOB.address, {"x": 1}, time_ms=now_ms() - 10 * 60_000)
        assert await code_of(ws.put(stale)) == "stale-time"
        deep: Any = 1
        for _ in range(12):
            deep = [deep]
        assert await code_of(ws.put(env(ALICE, BOB.address, deep))) == "too-deep"
        assert await code_of(ws.req("put")) == "bad-format"
        assert await code_of(ws.req("put", envelope="nope")) == "bad-format"
        assert await code_of(ws.req("frobnicate")) == "bad-format"

    async def test_malformed_frames_do_not_break_the_connection(
        self, ws: Ws, node: NodeProcess
    ) -> None:
        """Garbage frames get bad-format replies and the connection keeps working."""
        async with aiohttp.ClientSession() as s, s.ws_connect(node.ws_url) as raw:
            await raw.send_str("{not json")
            reply = orjson.loads((await raw.receive()).data)
            assert reply["error"]["code"] == "bad-format"
            await raw.send_str("[1,2]")
            assert orjson.loads((await raw.receive()).data)["error"]["code"] == "bad-format"
            await raw.send_str('{"id": 7, "op": "ping"}')
            reply = orjson.loads((await raw.receive()).data)
            assert reply["id"] == 7 and reply["ok"] is True
        assert "pong" in await ws.req("ping")


class TestQuery:
    async def test_filters_and_exact_cursor(self, ws: Ws) -> None:
        """Concurrent writes, then paging with the cursor sees each exactly once, in the
        order they were committed here."""
        receiver = key("inbox-1").address
        envs = [
            env(
                s,
                receiver,
                {"i": i},
                application="a" if i % 2 else "b",
                type="t" if i % 3 else "u",
                comment="c" if i % 5 == 0 else None,
            )
            for i, s in enumerate([ALICE, BOB] * 30)
        ]
        acks = await asyncio.gather(*(ws.put(e) for e in envs))
        seen: list[str] = []
        cursor = None
        while True:
            filt: dict[str, Any] = {"receiver": receiver, "limit": 7}
            if cursor is not None:
                filt["after"] = cursor
            page = await ws.req("query", filter=filt)
            seen += [m["id"] for m in page["messages"]]
            cursor = page["next"]
            if not page["more"]:
                break
        by_counter = sorted(acks, key=lambda a: a["dots"][0][1])
        assert seen == [a["msgId"] for a in by_counter]  # one node: its own counter order
        assert len(set(seen)) == 60
        again = await ws.req("query", filter={"receiver": receiver, "after": cursor})
        assert again["messages"] == [] and again["next"] == cursor

        async def count(**f: Any) -> int:
            page = await ws.req("query", filter={"receiver": receiver, "limit": 1000, **f})
            return len(page["messages"])

        assert await count(application="a") == 30
        assert await count(type="u") == 20
        assert await count(sender=BOB.address) == 30
        assert await count(comment="c") == 12
        assert await count(ids=[envs[0].id, envs[1].id]) == 2
        newest = await ws.req("query", filter={"receiver": receiver, "order": "desc", "limit": 3})
        assert [m["id"] for m in newest["messages"]] == seen[-1:-4:-1]
        assert newest["next"] is None
        assert await code_of(ws.req("query", filter={"limit": 3})) == "bad-format"
        # a misspelt filter key or a bad limit is refused, not ignored (it would match all)
        for bad in ({"app": "chat"}, {"limit": 0}, {"limit": -1}):
            filt = {"receiver": receiver, **bad}
            assert await code_of(ws.req("query", filter=filt)) == "bad-format"
            sub = ws.req("subscribe", sub="bad", filter=filt)
            assert await code_of(sub) == "bad-format"
        # an invalid receiver is invalid-address for a subscription as for a query
        for op, extra in (("query", {}), ("subscribe", {"sub": "bad"})):
            filt = {"receiver": receiver[:-1] + "x"}
            assert await code_of(ws.req(op, filter=filt, **extra)) == "invalid-address"

    async def test_time_range(self, ws: Ws) -> None:
        """since/until select by client time."""
        receiver = key("inbox-2").address
        t = now_ms()
        for dt in (-3000, -2000, -1000):
            await ws.put(env(ALICE, receiver, {"dt": dt}, time_ms=t + dt))
        page = await ws.req(
            "query", filter={"receiver": receiver, "since": t - 2500, "until": t - 1500}
        )
        assert [orjson.loads(m["envelope"]["body"])["payload"] for m in page["messages"]] == [
            {"dt": -2000}
        ]


class TestSubscribe:
    async def test_stored_then_eose_then_live_without_gap(self, ws: Ws, node: NodeProcess) -> None:
        """Stored matches, the end marker, then live ones; writes racing the stored phase are not lost."""
        receiver = key("inbox-3").address
        stored = [env(ALICE, receiver, {"n": i}) for i in range(30)]
        for e in stored:
            await ws.put(e)
        queue = ws.conn.open_subscription("s1")
        racing = [env(BOB, receiver, {"r": i}) for i in range(30)]
        sub_task = asyncio.create_task(ws.req("subscribe", sub="s1", filter={"receiver": receiver}))
        await asyncio.gather(*(ws.put(e) for e in racing))
        await sub_task
        got: list[str] = []
        eose_at = None
        after_event: list[str] = []  # the cursor each event carries
        while len(got) < 60:
            frame = await asyncio.wait_for(queue.get(), 10)
            assert isinstance(frame, dict)
            if frame.get("eose"):
                eose_at = len(got)
                continue
            got.append(frame["event"]["id"])
            after_event.append(frame["cursor"])
        assert sorted(got) == sorted(e.id for e in stored + racing)
        assert len(set(got)) == 60 and eose_at is not None and eose_at >= 30
        live = env(ALICE, receiver, {"live": True})
        await ws.put(live)
        frame = await asyncio.wait_for(queue.get(), 10)
        assert isinstance(frame, dict) and frame["event"]["id"] == live.id
        await ws.req("unsubscribe", sub="s1")
        late = env(ALICE, receiver, {"after": "unsubscribe"})
        await ws.put(late)
        await asyncio.sleep(0.3)
        assert queue.empty()
        # resuming from the cursor of any event gives exactly the rest, once each: in the
        # stored phase, among the writes buffered during it, and live
        for n, k in enumerate(sorted({0, eose_at - 1, eose_at, eose_at + 1, 45, 58})):
            q2 = ws.conn.open_subscription(f"r{n}")
            filt = {"receiver": receiver, "after": after_event[k]}
            await ws.req("subscribe", sub=f"r{n}", filter=filt)
            rest: list[str] = []
            while True:
                frame = await asyncio.wait_for(q2.get(), 10)
                assert isinstance(frame, dict)
                if frame.get("eose"):
                    break
                rest.append(frame["event"]["id"])
            await ws.req("unsubscribe", sub=f"r{n}")
            assert sorted(rest) == sorted([*got[k + 1 :], live.id, late.id]), k

    async def test_max_subscriptions(self, ws: Ws) -> None:
        """A connection may hold at most max_subscriptions (3 here)."""
        for i in range(3):
            ws.conn.open_subscription(f"m{i}")
            await ws.req("subscribe", sub=f"m{i}", filter={"receiver": key(f"m{i}").address})
        assert (
            await code_of(ws.req("subscribe", sub="m3", filter={"receiver": BOB.address}))
            == "rate-limited"
        )
        assert (
            await code_of(ws.req("subscribe", sub="m0", filter={"receiver": BOB.address}))
            == "bad-format"
        )


class TestObjects:
    async def test_merge_object_concurrent_patches_all_survive(self, ws: Ws) -> None:
        """A merge object: concurrent patches based on one version all apply (different
        fields), the next write merges the heads; reads by version, changes and an exact
        diff; expected_version is refused on a merge object."""
        oid = object_id("demo", "settings", REGTEST)

        def write(sender: Any, kind: str, payload: dict[str, Any]) -> Any:
            e = env(sender, oid, {"name": "settings", **payload}, application="demo",
                    type=f"flocloud.object.{kind}")  # fmt: skip
            return ws.put(e)

        first = await write(ADMIN, "reset", {"value": {"theme": "dark", "size": 1}})
        v1 = first["version"]
        assert v1 == "1-" + first["msgId"][:24]
        acks = await asyncio.gather(
            *(
                write(TRUSTED, "patch", {"patch": {f"k{i}": i}, "parents": [first["msgId"]]})
                for i in range(4)
            )
        )
        latest = await ws.req("object.get", application="demo", name="settings")
        assert latest["mode"] == "merge" and latest["count"] == 5
        assert sorted(latest["heads"]) == sorted(a["msgId"] for a in acks)
        assert latest["value"] == {"theme": "dark", "size": 1, "k0": 0, "k1": 1, "k2": 2, "k3": 3}
        merged = await write(ADMIN, "patch", {"patch": {"theme": None, "size": 1.0},
                                              "parents": latest["heads"]})  # fmt: skip
        now = await ws.req("object.get", application="demo", name="settings")
        assert now["heads"] == [merged["msgId"]] and now["version"] == merged["version"]
        old = await ws.req("object.get", application="demo", name="settings", version=v1)
        assert old["value"] == {"theme": "dark", "size": 1}
        changes = await ws.req(
            "object.changes", application="demo", name="settings", since_version=v1
        )
        assert [c["msgId"] for c in changes["changes"]][-1] == merged["msgId"]
        assert len(changes["changes"]) == 5 and changes["changes"][-1]["version"] == now["version"]
        assert changes["more"] is False
        diff = await ws.req(
            "object.changes", application="demo", name="settings", since_version=v1, mode="diff"
        )
        from flocloud.protocol.objects import canonical, merge_patch

        assert diff["patch"]["size"] == 1.0 and type(diff["patch"]["size"]) is float
        assert canonical(merge_patch(old["value"], diff["patch"])) == canonical(now["value"])
        assert await code_of(write(ADMIN, "patch", {"patch": {"x": 1},
            "parents": now["heads"], "expected_version": now["version"]})) == "bad-format"  # fmt: skip
        assert await code_of(
            write(ADMIN, "patch", {"patch": {"x": 1}, "parents": ["ab" * 32]})
        ) == ("not-found")
        # the old integer versions: a clear refusal, not a silent merge
        assert await code_of(write(ADMIN, "patch", {"patch": {"x": 1}, "expected_version": 1})) == (
            "bad-format"
        )
        assert await code_of(write(EVE, "reset", {"value": {}})) == "forbidden"
        assert await code_of(ws.req("object.get", application="demo", name="nope")) == "not-found"
        assert (
            await code_of(ws.req("object.get", application="demo", name="settings", version=3))
            == "bad-format"
        )
        wrong_id = env(
            ADMIN,
            BOB.address,
            {"name": "settings", "value": 1},
            application="demo",
            type="flocloud.object.reset",
        )
        assert await code_of(ws.put(wrong_id)) == "bad-format"

    async def test_strict_object_compare_and_set(self, ws: Ws) -> None:
        """A strict object (N = 1 here): of concurrent compare-and-set writes at one version
        exactly one is acknowledged, the others get version-conflict naming the version now;
        a write without expected_version is a compare-and-set at its parents' version."""
        oid = object_id("demo", "counter", REGTEST)

        def cas_env(value: Any, parents: list[str], expected: str) -> Any:
            return env(ADMIN, oid, {"name": "counter", "value": value, "parents": parents,
                                    "expected_version": expected}, application="demo",
                       type="flocloud.object.reset")  # fmt: skip

        def cas(value: Any, parents: list[str], expected: str) -> Any:
            return ws.put(cas_env(value, parents, expected))

        first_env = cas_env(0, [], "0")
        first = await ws.put(first_env)
        results = await asyncio.gather(
            *(cas(i, [first["msgId"]], first["version"]) for i in range(1, 6)),
            return_exceptions=True,
        )
        winners = [r for r in results if isinstance(r, dict)]
        assert len(winners) == 1
        losers = [r for r in results if not isinstance(r, dict)]
        assert all(isinstance(r, FlocloudError) and r.code == "version-conflict" for r in losers)
        assert all(
            winners[0]["version"] in r.message for r in losers if isinstance(r, FlocloudError)
        )
        state = await ws.req("object.get", application="demo", name="counter")
        assert state["mode"] == "strict" and state["version"] == winners[0]["version"]
        read = await ws.req("object.get", application="demo", name="counter", consistent=True)
        assert read["version"] == state["version"]
        again = await ws.put(first_env)  # the first write again: idempotent
        assert again["duplicate"] is True
        # without expected_version: a compare-and-set at the version of the parents
        stale = env(ADMIN, oid, {"name": "counter", "value": 9, "parents": [first["msgId"]]},
                    application="demo", type="flocloud.object.reset")  # fmt: skip
        assert await code_of(ws.put(stale)) == "version-conflict"
        fresh = env(ADMIN, oid, {"name": "counter", "value": 9, "parents": state["heads"]},
                    application="demo", type="flocloud.object.reset")  # fmt: skip
        assert (await ws.put(fresh))["version"].startswith("3-")

    async def test_schemas(self, ws: Ws) -> None:
        """The admin publishes schemas, anyone reads them, writes that don't match are refused."""
        target = "message:order"
        schema = {
            "type": "object",
            "required": ["qty"],
            "properties": {"qty": {"type": "integer", "minimum": 1}},
        }
        sid = object_id("demo", schema_object_name(target), REGTEST)
        publish = env(
            ADMIN,
            sid,
            {"target": target, "schema": schema},
            application="demo",
            type="flocloud.schema",
        )
        assert (
            await code_of(
                ws.put(
                    env(
                        EVE,
                        sid,
                        {"target": target, "schema": schema},
                        application="demo",
                        type="flocloud.schema",
                    )
                )
            )
            == "forbidden"
        )
        await ws.put(publish)
        got = await ws.req("schema.get", application="demo")
        assert got["schemas"][target] == schema
        await ws.put(env(ALICE, BOB.address, {"qty": 2}, application="demo", type="order"))
        assert (
            await code_of(
                ws.put(env(ALICE, BOB.address, {"qty": 0}, application="demo", type="order"))
            )
            == "schema-mismatch"
        )
        bad_schema = env(
            ADMIN,
            sid,
            {"target": target, "schema": {"type": 5}},
            application="demo",
            type="flocloud.schema",
        )
        assert await code_of(ws.put(bad_schema)) == "bad-format"


class TestDeleteTagNote:
    async def test_permissions_and_tombstones(self, ws: Ws) -> None:
        """Delete by receiver or admin (tombstone served), tag/note by admin only."""
        m1 = env(ALICE, BOB.address, {"m": 1}, application="demo")
        m2 = env(ALICE, BOB.address, {"m": 2}, application="demo")
        await ws.put(m1)
        await ws.put(m2)

        def about(sender: Any, kind: str, target: Any, **extra: Any) -> Any:
            return ws.put(
                env(
                    sender,
                    BOB.address,
                    {"id": target.id, **extra},
                    application="demo",
                    type=f"flocloud.{kind}",
                )
            )

        assert await code_of(about(EVE, "delete", m1)) == "forbidden"
        assert await code_of(about(BOB, "tag", m1, tag="x")) == "forbidden"
        await about(BOB, "delete", m1)
        await about(ADMIN, "delete", m2)
        await ADMIN_tag_note(ws, BOB.address)
        page = await ws.req("query", filter={"receiver": BOB.address, "ids": [m1.id, m2.id]})
        assert page["messages"] == []
        with_deleted = await ws.req(
            "query",
            filter={"receiver": BOB.address, "ids": [m1.id, m2.id], "include_deleted": True},
        )
        assert {m["deleted"] for m in with_deleted["messages"]} == {True}
        tombstones = await ws.req(
            "query", filter={"receiver": BOB.address, "type": "flocloud.delete"}
        )
        assert {
            orjson.loads(m["envelope"]["body"])["payload"]["id"] for m in tombstones["messages"]
        } >= {m1.id, m2.id}
        missing = env(
            ADMIN, BOB.address, {"id": "ab" * 32}, application="demo", type="flocloud.delete"
        )
        assert await code_of(ws.put(missing)) == "not-found"


async def ADMIN_tag_note(ws: Ws, receiver: str) -> None:
    m = env(ALICE, receiver, {"m": "tagged"}, application="demo")
    await ws.put(m)
    await ws.put(
        env(
            ADMIN,
            receiver,
            {"id": m.id, "tag": "important"},
            application="demo",
            type="flocloud.tag",
        )
    )
    await ws.put(
        env(
            ADMIN,
            receiver,
            {"id": m.id, "note": "checked"},
            application="demo",
            type="flocloud.note",
        )
    )
    (rec,) = (await ws.req("query", filter={"receiver": receiver, "ids": [m.id]}))["messages"]
    assert (rec["tags"], rec["note"]) == (["important"], "checked")


class TestHttp:
    async def test_self_description_metrics_and_reads(self, ws: Ws, node: NodeProcess) -> None:
        """GET / (JSON), /metrics, and the HTTP read equivalents."""
        e = env(ALICE, key("http-inbox").address, {"via": "ws"})
        await ws.put(e)
        tampered = {**e.to_wire(), "body": e.body_text.replace('"ws"', '"wz"')}
        assert await code_of(ws.req("put", envelope=tampered)) == "invalid-signature"
        async with aiohttp.ClientSession() as s:
            async with s.get(node.url + "/", headers={"Accept": "application/json"}) as r:
                info = await r.json()
                assert info["node_id"] == node.id and info["limits"]["max_depth"] == 8
            async with s.get(node.url + "/") as r:
                assert (
                    "text/html" in r.headers["Content-Type"]
                    and "flocloud supernode" in await r.text()
                )
            async with s.get(node.url + "/metrics") as r:
                text = await r.text()
                assert "flocloud_writes_accepted_total" in text
                assert 'flocloud_requests_rejected_total{code="invalid-signature"}' in text
            async with s.get(
                node.url + "/api/messages", params={"receiver": key("http-inbox").address}
            ) as r:
                assert [m["id"] for m in (await r.json())["messages"]] == [e.id]
            async with s.post(
                node.url + "/api/messages",
                data=env(BOB, key("http-inbox").address, {"via": "http"}).to_json(),
            ) as r:
                assert r.status == 200 and (await r.json())["duplicate"] is False
            async with s.get(node.url + "/api/messages") as r:
                assert r.status == 400 and (await r.json())["error"]["code"] == "bad-format"
            async with s.get(node.url + "/api/objects/demo/nothing") as r:
                assert r.status == 404
            async with s.get(node.url + "/api/no/such/thing") as r:
                assert r.status == 404
                assert (await r.json())["error"]["code"] == "not-found"
            # the key digest counts the two writes the inbox holds, and nothing elsewhere
            async with s.get(node.url + "/api/digest/" + key("http-inbox").address) as r:
                assert (await r.json())["fingerprint"][0] == 2
            async with s.get(node.url + "/api/digest/" + key("nobody").address) as r:
                assert (await r.json())["fingerprint"] == [0, 0, 0]


class TestLimits:
    async def test_rate_quota_size_and_slow_consumer(self, tight_node: NodeProcess) -> None:
        """Per-ID rate limit, storage quota, size limit and slow-consumer cut-off."""
        async with aiohttp.ClientSession() as session:
            from flocloud.client.connection import NodeConnection

            conn = NodeConnection(tight_node.ws_url, session, timeout=10)
            await conn.connect()
            ws = Ws(conn, session)
            spammer = key("spammer")
            codes = []
            for i in range(8):
                try:
                    await ws.put(env(spammer, BOB.address, {"i": i}))
                    codes.append("ok")
                except FlocloudError as exc:
                    codes.append(exc.code)
            assert codes[:5] == ["ok"] * 5 and "rate-limited" in codes[5:]
            hog = key("hog")
            results = []
            for i in range(5):
                try:
                    await ws.put(env(hog, BOB.address, {"blob": "x" * 15000, "i": i}))
                    results.append("ok")
                except FlocloudError as exc:
                    results.append(exc.code)
            assert "quota-exceeded" in results and results[0] == "ok"
            assert await code_of(ws.put(env(key("big"), BOB.address, "y" * 40000))) == "too-large"
            await conn.close()
            # a reader that never reads: its subscription is cut off, the node stays fine
            async with session.ws_connect(tight_node.ws_url) as lazy:
                await lazy.send_str(
                    orjson.dumps(
                        {
                            "id": 1,
                            "op": "subscribe",
                            "sub": "z",
                            "filter": {"receiver": key("flood").address},
                        }
                    ).decode()
                )
                conn2 = NodeConnection(tight_node.ws_url, session, timeout=10)
                await conn2.connect()
                # enough bytes to fill the kernel's loopback buffers (several MB) and the queue
                writers = [key(f"w{i}") for i in range(700)]
                flood = key("flood").address
                for start in range(0, 700, 100):
                    puts = [
                        env(w, flood, "p" * 25000).to_wire() for w in writers[start : start + 100]
                    ]
                    await asyncio.gather(*(conn2.request("put", envelope=p) for p in puts))
                cut = False
                for _ in range(1000):
                    msg = await asyncio.wait_for(lazy.receive(), 10)
                    frame = orjson.loads(msg.data)
                    if frame.get("error") and frame.get("sub") == "z":
                        cut = "slow consumer" in frame["error"]["message"]
                        break
                assert cut
                assert "pong" in await conn2.request("ping")
                await conn2.close()


async def test_restore_accepts_old_signed_messages(ws: Ws) -> None:
    """An exported message older than the skew window is refused as new but restorable."""
    old = env(ALICE, key("archive").address, {"old": True}, time_ms=now_ms() - 24 * 3600_000)
    assert await code_of(ws.put(old)) == "stale-time"
    ack = await ws.req("put", envelope=old.to_wire(), restore=True)
    assert ack["msgId"] == old.id and ack["duplicate"] is False
    forged = {**old.to_wire(), "sign": env(BOB, key("archive").address, 1).to_wire()["sign"]}
    assert await code_of(ws.req("put", envelope=forged, restore=True)) == "invalid-signature"


async def test_write_budgets_count_bytes_not_characters(tmp_path: Path) -> None:
    """A source's byte budget is charged the body's UTF-8 bytes: two writes of 1,300
    two-byte characters (2,600 bytes each) do not both fit a 5,000-byte burst, though
    their characters would."""
    from flocloud.client.connection import NodeConnection
    from node_helpers import start_node

    node = start_node(
        tmp_path / "n", "burst_bytes_per_source = 5000\nbytes_per_source = 1.0", wait=False
    )
    await node.wait_healthy(30)
    try:
        async with aiohttp.ClientSession() as session:
            conn = NodeConnection(node.ws_url, session, timeout=10)
            await conn.connect()
            first = env(ALICE, BOB.address, "é" * 1300)
            assert len(first.body_text) < 2500 < len(first.body_text.encode())
            await conn.request("put", envelope=first.to_wire())
            second = env(ALICE, BOB.address, "è" * 1300)
            assert await code_of(conn.request("put", envelope=second.to_wire())) == "rate-limited"
            await conn.close()
    finally:
        assert node.stop() == 0
