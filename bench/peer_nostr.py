"""Peer benchmark: the Python ``nostr-relay`` package (signed events over websockets into
SQLite, the closest peer) with node_ingest.py's load shape, beside flocloud's figures of
the same run.

Installs nostr-relay into ``bench/.peers/venv`` on first use, writes a config (SQLite file
in a temp dir, one gunicorn/uvicorn worker as shipped, no rate limits, quiet logs), starts
it on a free loopback port, then: 50 clients pipeline (64 in flight each) kind-1 events of
the same size as flocloud's 1 KiB bodies, each tagged ``p`` = one receiver, signed with
BIP-340 Schnorr (coincurve ``sign_schnorr``; id = sha256 of the NIP-01 serialization),
counting ``["OK", id, true]`` replies; then times ``REQ {"#p": [receiver], "limit": 1000}``
to EOSE (the receiver's newest 1,000). flocloud's side comes from ``node_ingest.json`` of
the same run (``report.flocloud_result``). Writes bench/results/peer_nostr.json.
Goal (issue 14): flocloud >= 20x the peer on ingest.
Usage: .venv/bin/python bench/peer_nostr.py [--messages 5000] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import coincurve
import orjson

from node_ingest import percentiles, pipelined
from peers import free_port, peers_python, running
from report import Report, flocloud_result, scratch

CONFIG = """\
DEBUG: false
storage:
  sqlalchemy.url: sqlite+aiosqlite:///{db}
  num_concurrent_reqs: 10
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_not_too_large
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_recent
verification:
  nip05_verification: disabled
gunicorn:
  bind: 127.0.0.1:{port}
  workers: 1
  loglevel: warning
  reload: false
authentication:
  enabled: false
message_timeout: 1800
subscription_limit: 32
max_limit: 6000
max_event_size: 8192
logging:
  version: 1
  root: {{level: WARNING}}
"""


def nostr_event(secret: bytes, content: str, tags: list[list[str]], created_at: int) -> bytes:
    """A NIP-01 event: id = sha256 of ``[0, pubkey, created_at, kind, tags, content]``
    serialized without spaces, sig = BIP-340 Schnorr of the id."""
    key = coincurve.PrivateKey(secret)
    pubkey = key.public_key_xonly.format().hex()
    serial = orjson.dumps([0, pubkey, created_at, 1, tags, content])
    event_id = hashlib.sha256(serial).digest()
    sig = key.sign_schnorr(event_id, b"\x00" * 32)
    return orjson.dumps({"id": event_id.hex(), "pubkey": pubkey, "created_at": created_at,
                         "kind": 1, "tags": tags, "content": content, "sig": sig.hex()})  # fmt: skip


def presign(clients: int, per: int, body_bytes: int) -> tuple[list[list[bytes]], str, int]:
    receiver = hashlib.sha256(b"nostr-receiver").hexdigest()
    now = int(time.time())
    probe = nostr_event(b"\x01" * 32, "", [["p", receiver]], now)
    content = "x" * max(0, body_bytes - len(probe))
    batches = []
    for c in range(clients):
        secret = hashlib.sha256(b"nostr-sender-%d" % c).digest()
        batches.append(
            [
                b'["EVENT",'
                + nostr_event(secret, f"{i:08d}" + content[8:], [["p", receiver]], now)
                + b"]"
                for i in range(per)
            ]
        )
    return batches, receiver, len(batches[0][0]) - len('["EVENT",]')


def nostr_ack(data: bytes) -> str:
    frame = orjson.loads(data)
    if frame[0] != "OK" or frame[2] is not True:
        raise RuntimeError(f"nostr-relay refused: {frame}")
    return str(frame[1])


async def drive(url: str, batches: list[list[bytes]], inflight: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    # replies name the event id, not the frame number: map them back
    ids = [[orjson.loads(f[9:-1])["id"] for f in b] for b in batches]

    def client(b: int) -> asyncio.Future[None]:
        index = {e: i for i, e in enumerate(ids[b])}
        return asyncio.ensure_future(
            pipelined(
                url, batches[b], inflight, latencies, lambda d: index[nostr_ack(d)], text=True
            )
        )

    t = time.perf_counter()
    total = sum(len(b) for b in batches)
    await asyncio.wait_for(
        asyncio.gather(*(client(b) for b in range(len(batches)))), max(300, total / 20)
    )
    return time.perf_counter() - t, latencies


async def query_newest(url: str, receiver: str, limit: int, repeats: int) -> list[float]:
    times = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url, compress=0, max_msg_size=0) as ws:
        for r in range(repeats):
            sub = f"q{r}"
            t = time.perf_counter()
            await ws.send_str(
                orjson.dumps(["REQ", sub, {"#p": [receiver], "limit": limit}]).decode()
            )
            got = 0
            while True:
                frame = orjson.loads((await asyncio.wait_for(ws.receive(), 60)).data)
                if frame[0] == "EVENT":
                    got += 1
                elif frame[0] == "EOSE":
                    break
            times.append(time.perf_counter() - t)
            await ws.send_str(orjson.dumps(["CLOSE", sub]).decode())
            if got != limit:
                raise RuntimeError(f"nostr-relay returned {got} of {limit}")
    return times


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--inflight", type=int, default=64)
    p.add_argument("--query-limit", type=int, default=1000)
    args = p.parse_args()
    rep = Report("peer_nostr", vars(args))
    fc = flocloud_result(
        "node_ingest", ["--messages", str(args.messages), "--clients", str(args.clients)]
    )
    python = peers_python()
    per = args.messages // args.clients
    print(f"pre-signing {per * args.clients} nostr events…", file=sys.stderr)
    batches, receiver, event_bytes = presign(args.clients, per, fc["results"]["body_bytes"])
    work = scratch("nostr-relay-")
    port = free_port()
    (work / "config.yaml").write_text(CONFIG.format(db=work / "nostr.sqlite3", port=port))
    relay = str(Path(python).parent / "nostr-relay")
    with running(
        [relay, "-c", str(work / "config.yaml"), "serve"], port, work / "relay.log", cwd=work
    ):
        url = f"ws://127.0.0.1:{port}"
        elapsed, latencies = await drive(url, batches, args.inflight)
        limit = min(args.query_limit, per * args.clients)
        q = await query_newest(url, receiver, limit, 5)
    total = per * args.clients
    results = {
        "peer": "nostr-relay 1.14 (1 worker, SQLite)",
        "messages": total,
        "event_bytes": event_bytes,
        "seconds": elapsed,
        "acked_per_second": total / elapsed,
        "ack_latency_ms": percentiles(latencies),
        "query_newest": {
            "limit": limit,
            "ms_median": statistics.median(q) * 1000,
            "ms_all": [x * 1000 for x in q],
        },
        "flocloud": {
            "from": "node_ingest.json",
            "time_utc": fc["machine"]["time_utc"],
            "messages": fc["results"]["messages"],
        },
    }
    peer = "nostr-relay"
    rep.row("ingest: signed 1 KiB writes acked, 50 clients", fc["results"]["acked_per_second"], "/s",
            goal=20 * results["acked_per_second"], peer=peer, peer_value=results["acked_per_second"])  # fmt: skip
    rep.row(f"query newest {limit} over websocket", fc["results"]["query_newest"]["ms_median"], "ms",
            peer=peer, peer_value=results["query_newest"]["ms_median"])  # fmt: skip
    print(f"nostr-relay: {results['acked_per_second']:,.0f} events acked/s ({event_bytes}-byte events); "
          f"query newest {limit}: {results['query_newest']['ms_median']:.1f} ms")  # fmt: skip
    rep.finish(results)


if __name__ == "__main__":
    asyncio.run(main())
