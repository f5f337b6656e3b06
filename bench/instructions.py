"""Benchmark: CPU instructions per write on the store's path, counted, not timed.

This VM's speed swings by ±25 % within minutes (bench/README.md), so paired timings of a
change worth a few percent do not separate. Instructions executed in user space do not
swing: this script runs a workload under valgrind's callgrind twice, with ``--small``
and ``--large`` writes after the same warm-up and the same parsing, and reports the
difference per write, split by where it ran (SQLite; the CPython interpreter with its
C modules, sqlite3 and asyncio among them; libc; the rest: orjson, libcrypto, uvloop).
What it leaves out is the kernel's share (a commit's WAL ``pwrite``s, ~25 system calls
for a dozen pages) and waiting; it measures the same code alike on any machine, so it is
the figure to compare a change with, beside the timed scripts. The default workloads
take about 2.5 minutes on two cores.

Workloads (in process, a fresh ``SqliteStore`` on a scratch folder, 1 KiB writes of 20
senders to 5 receivers, signed before the run):

- ``client-K``: ``SqliteStore.put`` as from clients, K writes per commit (K = 1: one at a
  time, each its own commit on the event loop: the moderate-rate case of the ack-latency
  goal);
- ``replica-K``: ``SqliteStore.put_replicas`` of K writes a peer numbered, one call (one
  commit) per K: a replica's side of ``peer.replicate.batch``.

Usage: .venv/bin/python bench/instructions.py [--workloads client-1,client-25,replica-25]
       [--small 300] [--large 900] [--keep DIR]
(``--keep``: the callgrind files stay in DIR, ``cg.<workload>.<writes>``, for
``callgrind_annotate --inclusive=yes DIR/cg.replica-250.900`` by function.)
Needs valgrind (Debian: ``apt install valgrind``). Prints a table and writes
bench/results/instructions.json.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from flocloud.node import runtime
from flocloud.protocol.envelope import build_envelope, parse_unverified
from flocloud.protocol.writes import parse_write
from flocloud.storage.sqlite import SqliteStore
from node_ingest import key
from report import Report, scratch

WARM = 300  # writes stored before the counted ones, in every run
FIXED_TIME_MS = 1_764_547_200_000  # 2025-12-01: signing is deterministic (RFC 6979)
WHERE = (  # (label, pattern of callgrind's file:function line), first match wins
    ("sqlite", re.compile(r"libsqlite3")),
    ("cpython", re.compile(r"libpython|/Python-3|python3\.\d+\]")),
    ("libc", re.compile(r"libc\.so|/libc-|/nptl/|/malloc/|/string/")),
)


def wires(path: Path, count: int) -> None:
    now = FIXED_TIME_MS  # the same writes in every run: the same ids, the same B-trees
    senders = [key(f"instr-sender-{i}") for i in range(20)]
    receivers = [key(f"instr-receiver-{i}").address for i in range(5)]
    with path.open("wb") as f:
        for i in range(count):
            env = build_envelope(senders[i % 20], receiver=receivers[i % 5],
                                 payload={"i": i, "pad": "x" * 860}, time_ms=now)  # fmt: skip
            f.write(orjson.dumps(env.to_wire()) + b"\n")


async def child(workload: str, lines: list[bytes], writes: int) -> None:
    kind, k = workload.rsplit("-", 1)
    per = int(k)
    store = await SqliteStore.open(scratch() / "store.sqlite3")
    envs = [parse_unverified(w, now_ms=None) for w in lines]  # as many in every run
    items = [(e, parse_write(e.body), (("a" * 32, i + 1),)) for i, e in enumerate(envs)]
    now = envs[0].body.time

    async def put(batch: list[Any]) -> None:
        if kind == "replica":
            await store.put_replicas(batch, now, origin="b" * 32)
        elif len(batch) == 1:
            await store.put(batch[0][0], now, quota_bytes=10**12)
        else:
            await asyncio.gather(*(store.put(e, now, quota_bytes=10**12) for e, _, _ in batch))

    for i in range(0, WARM, per):
        await put(items[i : min(i + per, WARM)])
    todo = items[WARM : WARM + writes]
    for i in range(0, len(todo), per):
        await put(todo[i : i + per])
    await store.close()


def counted(workload: str, path: Path, writes: int, parsed: int, out: Path) -> dict[str, int]:
    """Instructions of one child run, by where they ran."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
           __file__, "--child", workload, "--wires", str(path), "--writes", str(writes),
           "--parsed", str(parsed)]  # fmt: skip
    env = os.environ | {"PYTHONHASHSEED": "0"}  # sets and dicts iterate alike in every run
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"the {workload} run ({writes} writes) failed under valgrind:\n{tail}")
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(out)], capture_output=True, text=True
    ).stdout
    if "file:function" not in text:
        raise SystemExit(f"callgrind_annotate printed no function table for {out}")
    by: dict[str, int] = {"total": 0}
    table = text.split("file:function", 1)[1]
    for line in table.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
        if not m:
            continue
        n, where = int(m.group(1).replace(",", "")), m.group(2)
        label = next((lab for lab, pat in WHERE if pat.search(where)), "other")
        by[label] = by.get(label, 0) + n
        by["total"] += n
    return by


def measure(
    workload: str, path: Path, small: int, large: int, keep: Path | None = None
) -> dict[str, float]:
    tmp = keep or scratch("flocloud-instr-")
    parsed = WARM + large
    runs = [counted(workload, path, n, parsed, tmp / f"cg.{workload}.{n}") for n in (small, large)]
    return {
        label: (runs[1].get(label, 0) - runs[0].get(label, 0)) / (large - small)
        for label in ("total", "sqlite", "cpython", "libc", "other")
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workloads", default="client-1,client-5,client-25,replica-5,replica-25")
    p.add_argument("--small", type=int, default=300)
    p.add_argument("--large", type=int, default=900)
    p.add_argument("--keep", type=Path, help="a folder that keeps the callgrind files")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--wires", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--writes", type=int, help=argparse.SUPPRESS)
    p.add_argument("--parsed", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        lines = args.wires.read_bytes().split(b"\n")[: args.parsed]
        runtime.run(child(args.child, lines, args.writes))
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        sys.exit("instructions.py needs valgrind (Debian: apt install valgrind)")
    workloads = args.workloads.split(",")
    for w in workloads:
        if not re.fullmatch(r"(client|replica)-[1-9]\d*", w):
            sys.exit(f"unknown workload {w!r}: client-K or replica-K")
    if not 0 < args.small < args.large:
        sys.exit("--small must be above 0 and below --large")
    rep = Report("instructions", {k: v for k, v in vars(args).items() if k in
                                  ("workloads", "small", "large")})  # fmt: skip
    path = scratch() / "wires.jsonl"
    wires(path, WARM + args.large)
    results: dict[str, Any] = {}
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        futs = {
            w: pool.submit(measure, w, path, args.small, args.large, args.keep) for w in workloads
        }
        for w in workloads:
            results[w] = r = futs[w].result()
            print(f"  {w}: {r['total'] / 1000:,.0f} k instructions per write "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)  # fmt: skip
    for w in workloads:
        r = results[w]
        rep.row(f"{w}: instructions per write", r["total"] / 1000, "k")
        for label in ("sqlite", "cpython", "libc", "other"):
            rep.row(f"  of which {label}", r[label] / 1000, "k")
    rep.finish(results)


if __name__ == "__main__":
    main()
