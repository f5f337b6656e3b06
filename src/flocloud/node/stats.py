"""``GET /api/stats``: a supernode's cheap counters, for dashboards.

Invariant: nothing here scans the messages table: the figures are in-memory counters, the
per-key fingerprint rows and the log's highest ``seq`` (an index lookup), and the store
figures are read at most once a second however many dashboards poll.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from . import runtime
from .shape import HttpNode as Node

__all__ = ["add_stats_route"]

_READ_OPS = ("query", "subscribe", "object.get", "object.changes", "schema.get")


def add_stats_route(app: web.Application, node: Node) -> None:
    started = time.time()
    cache: dict[str, Any] = {"at": 0.0, "held": 0, "log": 0}

    async def stats(request: web.Request) -> web.Response:
        now = time.monotonic()
        if now - cache["at"] >= 1.0:
            assert node.store is not None
            cache["held"], cache["log"] = await node.store.counters()
            cache["at"] = now
        m = node.service.metrics
        peers = node.peers
        store, verifier = node.store, node.service.verifier
        assert store is not None
        doc = {
            "node_id": node.key.address,
            "time_ms": int(time.time() * 1000),
            "uptime_s": round(time.time() - started, 1),
            "messages": cache["held"],
            "log_position": cache["log"],
            "writes_accepted": m.accepted,
            "writes_duplicate": m.duplicates,
            "writes_replicated": m.replicated,
            "reads": sum(m.requests.get(op, 0) for op in _READ_OPS),
            "rejected": sum(m.rejected.values()),
            "connections": m.connections,
            "subscriptions": m.subscriptions,
            # how far this node has read each peer's log (compare with the peer's log_position)
            "pulled": {p: c for p, c in peers.cursors.items() if isinstance(c, int)},
            "catching_up": sorted(getattr(peers, "catching_up", ())),
            # catch-up pages leave out the writes the asker acknowledged (replication/catchup.py)
            "catch_up": {
                "delivered_known": len(peers.catchup.delivered),
                "rows_left_out_delivered": peers.catchup.left_out_delivered,
                # the last pull that stored writes: from whom, how many, when it began
                # (seconds after the node started) and how long it took
                "last_pull": peers.catchup.last_pull,
            },
            # what the cyclic garbage collector cost (node/runtime.py)
            "gc": runtime.gc_stats(),
            # the WAL after the last checkpoint, and the RESTARTs that started it again
            "wal": {
                "frames": store.checkpointer.frames,
                "checkpoints": store.checkpointer.checkpoints,
                "restarts": store.checkpointer.restarts,
            },
            # how the work batches: writes per commit, checks per hop to a worker, and how
            # many batches were small enough for the event loop (node/verify.py, sqlite.py)
            "batching": {
                "store_commits": store.commits,
                "store_writes": store.writes,
                "store_commits_inline": store.inline,
                "store_commit_lingers": store.linger.waits,  # storage/linger.py
                "signature_batches": verifier.batches,
                "signatures_checked": verifier.checked,
                "signature_batches_inline": verifier.inline,
                "signature_batches_before_workers": verifier.early,  # on threads
            },
        }
        return web.Response(body=orjson.dumps(doc), content_type="application/json")

    app.router.add_get("/api/stats", stats)
