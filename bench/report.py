"""What every benchmark shares: the machine, the ceilings measured in the same run, and one
way to report (a printed table and ``bench/results/<name>.json``).

Invariants owned here:
- Every JSON a benchmark writes has the same shape: ``machine``, ``parameters``,
  ``ceilings``, ``results`` (the script's own details) and ``rows`` (one per figure: value,
  unit, goal, whether it is met, ratio to a ceiling and to a peer measured in the same run).
- Ceilings are measured in the same run: by the script itself, or once by the suite
  (``suite.py``), which passes them to every script through ``FLOCLOUD_BENCH_CEILINGS``.
- Ratios: ``of_ceiling`` = value / ceiling (throughputs only); ``vs_peer`` = flocloud / peer
  in the row's unit (above 1 is better for a rate, below 1 for a time).
- The nodes a benchmark starts import compiled bytecode, as an installed package does
  (``compile_flocloud``): a shell with ``PYTHONDONTWRITEBYTECODE`` and an editable install
  would otherwise compile every module at each start (0.2 s of a restart measured here).
"""

from __future__ import annotations

import atexit
import compileall
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from results_file import write_result

CEILINGS_ENV = "FLOCLOUD_BENCH_CEILINGS"
BENCH = Path(__file__).parent


def scratch(prefix: str = "flocloud-bench-") -> Path:
    """A new temporary folder, removed when the script exits (the nodes' stores of one run
    are hundreds of MB: left behind, repeated runs fill the disk)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def compile_flocloud() -> str:
    """Write the bytecode of the flocloud package this run imports (PYTHONPATH decides
    which tree: its nodes import the same); returns where it is."""
    import flocloud

    where = str(Path(flocloud.__file__).parent)
    compileall.compile_dir(where, quiet=1)
    return where


def machine() -> dict[str, Any]:
    """CPU, cores, load, Python and the versions of what the figures depend on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("flocloud", "coincurve", "aiohttp", "orjson", "uvloop"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    versions["sqlite"] = sqlite3.sqlite_version
    try:
        commit = subprocess.run(
            ["git", "-C", str(BENCH), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def verify_rate(threads: int, seconds: float = 1.0) -> float:
    """Raw coincurve ECDSA verifications per second on ``threads`` threads (libsecp256k1
    releases the GIL, so threads use the cores), of distinct 1 KiB bodies' digests."""
    import coincurve

    key = coincurve.PrivateKey(hashlib.sha256(b"ceiling").digest())
    pub = key.public_key.format()
    items = []
    for i in range(512):
        digest = hashlib.sha256(b"%d" % i + b"x" * 1024).digest()
        items.append((digest, key.sign(digest, hasher=None)))
    counts = [0] * threads
    start = threading.Barrier(threads + 1)

    def work(slot: int) -> None:
        start.wait()
        n = 0
        while time.perf_counter() < stop:
            for digest, sig in items[:64]:
                coincurve.PublicKey(pub).verify(sig, digest, hasher=None)
            n += 64
        counts[slot] = n

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    t = time.perf_counter()
    stop = t + seconds
    start.wait()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - t)


def sqlite_insert_rate(rows: int = 50_000, batch: int = 500) -> float:
    """Rows per second into a WAL database (``synchronous=NORMAL``, as the node opens its
    store), 1 KiB rows with a text primary key and a receiver index, ``batch`` rows per
    transaction: what a single SQLite writer can commit, with nothing else to do."""
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(Path(d) / "ceiling.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE m (id TEXT PRIMARY KEY, receiver TEXT, seq INTEGER, body BLOB)")
        db.execute("CREATE INDEX m_r ON m (receiver, seq)")
        body = b"x" * 1024
        data = [(hashlib.sha256(b"%d" % i).hexdigest(), f"r{i % 64}", i, body) for i in range(rows)]
        t = time.perf_counter()
        for s in range(0, rows, batch):
            db.execute("BEGIN")
            db.executemany("INSERT INTO m VALUES (?,?,?,?)", data[s : s + batch])
            db.execute("COMMIT")
        elapsed = time.perf_counter() - t
        db.close()
    return rows / elapsed


def measure_ceilings(seconds: float = 1.0) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    one = verify_rate(1, seconds)
    two = verify_rate(2, seconds)
    every = two if cores == 2 else verify_rate(cores, seconds)
    return {
        "verify_per_s_1_thread": one,
        "verify_per_s_2_threads": two,
        "verify_per_s_all_cores": every,
        "verify_threads_all_cores": cores,
        "sqlite_insert_per_s": sqlite_insert_rate(),
        "measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": os.getloadavg(),
    }


def ceilings() -> dict[str, Any]:
    """The suite's ceilings when it passed them, else measured now (about 3 s)."""
    path = os.environ.get(CEILINGS_ENV)
    if path and Path(path).exists():
        data: dict[str, Any] = json.loads(Path(path).read_text())
        return data
    return measure_ceilings()


CEILING_NAMES = {
    "verify": "verify_per_s_all_cores",
    "sqlite": "sqlite_insert_per_s",
}


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    goal: float | None = None
    goal_op: str = ">="  # ">=" for rates, "<=" for times
    ceiling: str | None = None  # "verify" or "sqlite"
    of_ceiling: float | None = None
    peer: str | None = None
    peer_value: float | None = None
    vs_peer: float | None = None
    met: bool | None = None


class Report:
    """Collects the rows of one benchmark, then prints them and writes the JSON."""

    def __init__(self, name: str, parameters: dict[str, Any], ceils: dict[str, Any] | None = None):
        # SIGTERM (the suite's timeout, a user) unwinds like Ctrl-C, so every ``finally``
        # that stops a node or a peer runs (asyncio.run cancels the main task)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        self.name = name
        self.parameters = parameters | {"run": os.environ.get("FLOCLOUD_BENCH_RUN")}
        self.parameters["flocloud_tree"] = compile_flocloud()
        self.ceilings = ceils if ceils is not None else ceilings()
        self.rows: list[Row] = []

    def row(
        self,
        figure: str,
        value: float,
        unit: str,
        *,
        goal: float | None = None,
        goal_op: str = ">=",
        ceiling: str | None = None,
        peer: str | None = None,
        peer_value: float | None = None,
    ) -> Row:
        r = Row(figure, value, unit, goal, goal_op, ceiling, peer=peer, peer_value=peer_value)
        if ceiling:
            c = self.ceilings[CEILING_NAMES[ceiling]]
            r.of_ceiling = value / c if c else None
        if peer_value:
            r.vs_peer = value / peer_value
        if goal is not None:
            r.met = value >= goal if goal_op == ">=" else value <= goal
        self.rows.append(r)
        return r

    def finish(self, results: dict[str, Any]) -> Path:
        print_rows(self.rows, self.ceilings)
        return write_result(
            self.name,
            {
                "machine": machine(),
                "parameters": self.parameters,
                "ceilings": self.ceilings,
                "results": results,
                "rows": [asdict(r) for r in self.rows],
            },
        )


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3g}"


def print_rows(rows: list[Row] | list[dict[str, Any]], ceils: dict[str, Any]) -> None:
    """One table: figure, value, goal, met, ratio to the ceiling, the peer and the ratio."""
    dicts = [asdict(r) if isinstance(r, Row) else r for r in rows]
    head = (
        f"{'figure':<52} {'value':>10} {'unit':<7} {'goal':>9} {'met':>3} "
        f"{'/ceil':>6} {'peer':<22} {'peer val':>9} {'fc/peer':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in dicts:
        goal = "-" if r["goal"] is None else ("≥" if r["goal_op"] == ">=" else "≤") + fmt(r["goal"])
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        print(
            f"{r['figure'][:52]:<52} {fmt(r['value']):>10} {r['unit'][:7]:<7} {goal:>9} {met:>3} "
            f"{fmt(r['of_ceiling']):>6} {(r['peer'] or '-')[:22]:<22} {fmt(r['peer_value']):>9} "
            f"{fmt(r['vs_peer']):>7}"
        )
    print(
        f"ceilings (same run): verify {fmt(ceils['verify_per_s_1_thread'])}/s on 1 thread, "
        f"{fmt(ceils['verify_per_s_2_threads'])}/s on 2; SQLite batched insert "
        f"{fmt(ceils['sqlite_insert_per_s'])} rows/s; load {ceils['load_average'][0]:.1f}"
    )


def flocloud_result(name: str, args: list[str], max_age_s: float = 3600) -> dict[str, Any]:
    """flocloud's own figures for a peer to be compared with: the JSON of ``name`` written
    in this run (by the suite, or within ``max_age_s``), else ``name``.py is run now with
    ``args``."""
    path = BENCH / "results" / f"{name}.json"
    run = os.environ.get("FLOCLOUD_BENCH_RUN")
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        fresh = time.time() - path.stat().st_mtime < max_age_s
        if (run and data.get("parameters", {}).get("run") == run) or (not run and fresh):
            return data
    print(f"running {name}.py {' '.join(args)} for flocloud's side", flush=True)
    subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *args],
        check=True, timeout=900,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(path.read_text())
    return result
