"""Peer benchmark: Redis Streams from Debian, what a user would pick instead, beside
flocloud's figures of the same run.

Installs ``redis-server`` with apt-get when missing and redis-py into the peers venv,
starts its own server on a free loopback port in a temp dir (AOF on), and measures with
``redis_driver.py``: ``XADD`` of 1 KiB, 50 clients, 64 commands per round trip, with
``appendfsync everysec`` and with ``always`` (one fsync before each batch of replies: the
durability of flocloud's ack after commit); then ``XREAD`` of the newest 1,000 from an id
among ``--stored`` (incremental_fetch.py's question). flocloud's side comes from
``node_ingest.json`` and ``incremental_fetch.json`` of the same run. Redis checks no
signature, so the ratio says what signing and checking every write costs beside the store a
user would reach for. Writes bench/results/peer_redis.json.
Usage: .venv/bin/python bench/peer_redis.py [--messages 20000] [--stored 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from peers import free_port, peers_python, redis_server, rss_mib, running
from report import Report, flocloud_result

DRIVER = Path(__file__).parent / "redis_driver.py"


def drive(python: str, port: int, mode: str, extra: list[str], timeout: float) -> dict[str, Any]:
    out = subprocess.run(
        [python, str(DRIVER), mode, "--port", str(port), *extra],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"redis_driver {mode} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def server(binary: str, work: Path, port: int, fsync: str) -> list[str]:
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work),
            "--appendonly", "yes", "--appendfsync", fsync, "--save", "",
            "--protected-mode", "yes", "--daemonize", "no"]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--stored", type=int, default=1_000_000)
    p.add_argument("--new", type=int, default=1000)
    args = p.parse_args()
    rep = Report("peer_redis", vars(args))
    ingest = flocloud_result("node_ingest", ["--messages", str(args.messages)])
    fetch = flocloud_result(
        "incremental_fetch", ["--stored", str(args.stored), "--new", str(args.new)]
    )
    python = peers_python()
    binary = redis_server()
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10
    ).stdout
    load = ["--messages", str(args.messages), "--clients", str(args.clients), "--payload", "1024"]
    results: dict[str, Any] = {"redis": version.strip()}
    for fsync in ("everysec", "always"):
        with tempfile.TemporaryDirectory(prefix="redis-") as d:
            port = free_port()
            with running(
                server(binary, Path(d), port, fsync), port, Path(d) / "redis.log", cwd=Path(d)
            ):
                results[f"xadd_{fsync}"] = drive(python, port, "xadd", load, 600)
    with tempfile.TemporaryDirectory(prefix="redis-") as d:
        port = free_port()
        with running(
            server(binary, Path(d), port, "everysec"), port, Path(d) / "redis.log", cwd=Path(d)
        ) as proc:
            results["xread"] = drive(python, port, "xread",
                                     ["--stored", str(args.stored), "--new", str(args.new)], 900)  # fmt: skip
            results["xread"]["rss_mib"] = rss_mib(proc.pid)
    results["flocloud"] = {"node_ingest_utc": ingest["machine"]["time_utc"],
                           "incremental_fetch_utc": fetch["machine"]["time_utc"]}  # fmt: skip
    rate = ingest["results"]["acked_per_second"]
    for fsync in ("everysec", "always"):
        rep.row(f"ingest 1 KiB acked vs XADD appendfsync {fsync}", rate, "/s",
                peer=f"redis XADD {fsync}", peer_value=results[f"xadd_{fsync}"]["per_second"])  # fmt: skip
    fc_fetch = fetch["results"]["one_origin"]["fetch_ms_median"]
    rep.row(f"fetch {args.new:,} new among {fetch['results']['stored']:,} (store)", fc_fetch, "ms",
            goal=20, goal_op="<=", peer=f"redis XREAD of {args.stored:,}",
            peer_value=results["xread"]["ms_median"])  # fmt: skip
    rep.finish(results)


if __name__ == "__main__":
    main()
