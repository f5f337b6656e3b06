"""Legacy records in a real SQLite store: assignment, duplicates, and replicas that
derive the same rows from the same records in any order."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path
from typing import Any

import pytest

from flocloud.protocol.errors import Forbidden, InvalidSignature, NotFound
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.legacy import make_record, parse_write, store_string, vector_clock
from flocloud.protocol.legacy_query import parse_query
from flocloud.protocol.params import TESTNET
from flocloud.storage.legacy import LegacyStore
from flocloud.storage.sqlite import SqliteStore
from legacy_client import sign_data, store_fields

A = PrivateKey.from_secret(bytes([7] * 32))  # the sender, and the app's admin here
B = PrivateKey.from_secret(bytes([8] * 32))
ADMIN = A
NOW = 1_700_000_000_000


def store_doc(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"application": "app", "type": None, "comment": "", **over}
    return store_fields(A, B.address, NOW, base64.b64encode(b"1").decode(), **fields)


def allow(*_: Any) -> None:
    return None


def deny(*_: Any) -> None:
    raise Forbidden("Access denied")


def change_doc(key: Any, op: str, vc: str, value: str, t: int = NOW) -> dict[str, Any]:
    doc = {"receiverID": B.address, "requestorID": key.address, "pubKey": key.pubkey_hex,
           "time": t, "vectorClock": vc, op: value}  # fmt: skip
    doc["sign"] = sign_data(key, f"{t}|{vc}|{value}")
    return doc


async def open_store(path: Path) -> tuple[SqliteStore, LegacyStore]:
    s = await SqliteStore.open(path)
    return s, LegacyStore(s)


QUERY = parse_query({"receiverID": B.address, "application": "app"})


async def test_accept_assigns_unique_increasing_clocks_and_dedups(tmp_path: Path) -> None:
    store, legacy = await open_store(tmp_path / "s.sqlite3")
    reqs = [parse_write(store_doc(comment=str(i)), NOW, 60_000) for i in range(5)]
    accepted = [await legacy.accept(r, NOW, quota_bytes=None, check=allow) for r in reqs]
    vcs = [a.row["vectorClock"] for a in accepted]
    assert vcs == [vector_clock(NOW + i, A.address) for i in range(5)]  # one ms apart, in order
    again = await legacy.accept(reqs[2], NOW + 99, quota_bytes=None, check=allow)
    assert again.duplicate and again.row == accepted[2].row and again.record == accepted[2].record
    assert [r["vectorClock"] for r in await legacy.query(QUERY, 100)] == vcs
    # fingerprints and native queries count them as writes of their own kind
    assert (await store.key_digest(B.address)).count == 5
    from flocloud.storage.store import MessageFilter

    assert (await store.query(MessageFilter(B.address))).records == []
    assert len((await store.query(MessageFilter(B.address, kind="legacy"))).records) == 5
    with pytest.raises(NotFound, match="Invalid vectorClock"):
        req = parse_write(change_doc(ADMIN, "tag", "0000000000000_x", "t"), NOW, 60_000)
        await legacy.accept(req, NOW, quota_bytes=None, check=allow)
    tag = parse_write(change_doc(B, "tag", vcs[0], "t"), NOW, 60_000)
    with pytest.raises(Forbidden):
        await legacy.accept(tag, NOW, quota_bytes=None, check=deny)
    edit = change_doc(A, "edit", vcs[0], "new")
    edit["re_sign"] = sign_data(A, "not the store string")
    edit["sign"] = sign_data(A, f"{NOW}|{vcs[0]}|new|{edit['re_sign']}")
    with pytest.raises(InvalidSignature, match="Invalid re_sign"):
        await legacy.accept(parse_write(edit, NOW, 60_000), NOW, quota_bytes=None, check=allow)
    await store.close()


async def test_replicas_converge_whatever_the_order(tmp_path: Path) -> None:
    """Two assignments of one request (a failover), and tags/notes/edits, applied in every
    order: every store answers the same rows."""
    req = parse_write(store_doc(), NOW, 60_000)
    first = make_record(req, NOW + 10, vector_clock=vector_clock(NOW + 10, A.address))
    second = make_record(req, NOW + 20, vector_clock=vector_clock(NOW + 20, A.address))
    vc = first.vector_clock
    assert vc is not None
    edit = change_doc(A, "edit", vc, "new", NOW + 1)
    edit_store = store_doc(comment="new")
    edit["re_sign"] = sign_data(A, store_string(edit_store, "new"))
    edit["sign"] = sign_data(A, f"{NOW + 1}|{vc}|new|{edit['re_sign']}")
    changes = [
        make_record(parse_write(change_doc(ADMIN, "tag", vc, "one", NOW + 2), NOW, 60_000), NOW + 30, target=first.rid),
        make_record(parse_write(change_doc(ADMIN, "tag", vc, "two", NOW + 3), NOW, 60_000), NOW + 40, target=first.rid),
        make_record(parse_write(change_doc(B, "note", vc, "seen", NOW + 4), NOW, 60_000), NOW + 35, target=first.rid),
        make_record(parse_write(edit, NOW, 60_000), NOW + 36, target=first.rid),
    ]  # fmt: skip
    answers = []
    for n, order in enumerate(itertools.permutations(range(4))):
        if n % 5:  # a sample of the 24 orders keeps this quick
            continue
        store, legacy = await open_store(tmp_path / f"{n}.sqlite3")
        stores = [second, first] if n % 2 else [first, second]
        for rec in stores:
            assert not (await legacy.store_replica(rec, 1, origin="p", dots=None, check=allow))[0]
        for i in order:
            await legacy.store_replica(changes[i], 1, origin="p", dots=None, check=allow)
        dup = await legacy.store_replica(changes[order[0]], 1, origin="p", dots=None, check=allow)
        assert dup[0] is True
        answers.append(await legacy.query(QUERY, 100))
        await store.close()
    assert all(a == answers[0] for a in answers)
    [row] = answers[0]
    assert row["vectorClock"] == vc  # the smaller assignment wins
    assert (row["tag"], row["note"], row["comment"], row["log_time"]) == (
        "two",
        "seen",
        "new",
        NOW + 40,
    )
    assert row["sign"] == edit["re_sign"]


async def test_a_change_without_its_row_waits(tmp_path: Path) -> None:
    store, legacy = await open_store(tmp_path / "s.sqlite3")
    req = parse_write(store_doc(), NOW, 60_000)
    rec = make_record(req, NOW, vector_clock=vector_clock(NOW, A.address))
    tag = make_record(parse_write(change_doc(ADMIN, "tag", str(rec.vector_clock), "t"), NOW, 60_000), NOW + 1, target=rec.rid)  # fmt: skip
    with pytest.raises(NotFound):
        await legacy.store_replica(tag, 1, origin="p", dots=None, check=allow)
    await legacy.store_replica(rec, 1, origin="p", dots=None, check=allow)
    await legacy.store_replica(tag, 1, origin="p", dots=None, check=allow)
    assert (await legacy.query(QUERY, 10))[0]["tag"] == "t"
    ids = await store.receiver_ids(B.address)
    assert await store.drop(B.address, ids) == 2
    assert await legacy.query(QUERY, 10) == []
    await store.close()


def test_testnet_receivers_share_the_inbox() -> None:
    o = PrivateKey.from_secret(B.secret, TESTNET).address
    assert parse_query({"receiverID": o, "application": "app"}).receiver == B.address
