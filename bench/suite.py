"""The benchmark suite: every figure of issue 14 in one run, one summary table.

Measures the ceilings once (``report.measure_ceilings``) and passes them, with a run id, to
every script through the environment, so each ratio is to a ceiling and a peer of the same
run. Runs each script as its own process with a timeout (a failure is reported, the rest go
on), keeps its output in ``bench/results/logs/``, then prints the rows of all of them and
writes bench/results/suite.json. The quick set (default) takes a few minutes; ``--full``
runs the scripts at their own default (issue) sizes.
Usage: .venv/bin/python bench/suite.py [--full] [--only node_ingest,peer_nostr]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from report import BENCH, CEILINGS_ENV, machine, measure_ceilings, print_rows
from results_file import write_result

# script -> (quick arguments, timeout in seconds on a loaded 2-core machine)
QUICK: dict[str, tuple[list[str], float]] = {
    "sign_verify": (["1000"], 120),
    "node_ingest": (["--messages", "10000"], 240),
    "put_path": (["--messages", "10000"], 120),
    "hop_cost": (["--trips", "2000", "--writes", "1000"], 120),
    "incremental_fetch": (["--stored", "100000"], 240),
    "replication": (
        [
            "--rates",
            "250,1000",
            "--seconds",
            "3",
            "--trials",
            "3",
            "--sustained",
            "5000",
            "--missed",
            "5000",
            "--baseline",
            "5000",
        ],
        420,
    ),
    "fanout": (["--subscribers", "2000", "--writes", "10", "--idle", "1000"], 180),
    "antientropy_round": (["--keys", "100000"], 240),
    "peer_nostr": (["--messages", "3000"], 420),
    "peer_redis": (["--messages", "10000", "--stored", "100000"], 600),
}
FULL_TIMEOUT = 3600


def run(name: str, args: list[str], timeout: float, env: dict[str, str]) -> dict[str, Any]:
    logs = BENCH / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    print(f"== {name} {' '.join(args)}", flush=True)
    t = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(BENCH / f"{name}.py"), *args],
            cwd=BENCH, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # SIGINT first: the script unwinds and its finally blocks stop the nodes and
            # peers it started (they run in their own sessions, out of this group's reach)
            for sig, grace in ((signal.SIGINT, 60), (signal.SIGTERM, 15), (signal.SIGKILL, 15)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
            code = -1
    seconds = time.perf_counter() - t
    status = "ok" if code == 0 else ("timeout" if code == -1 else f"exit {code}")
    print(f"   {status} in {seconds:.0f} s (log: {log})", flush=True)
    if code != 0:
        print("   " + "\n   ".join(log.read_text().splitlines()[-8:]), flush=True)
    return {"status": status, "seconds": seconds, "args": args, "log": str(log)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--full", action="store_true", help="the scripts' own (issue) sizes")
    p.add_argument("--only", default="", help="comma-separated script names")
    args = p.parse_args()
    names = [n for n in QUICK if not args.only or n in args.only.split(",")]
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    print(f"run {run_id}: measuring the ceilings", flush=True)
    ceils = measure_ceilings()
    path = write_result("ceilings", ceils)
    env = dict(os.environ, FLOCLOUD_BENCH_RUN=run_id, **{CEILINGS_ENV: str(path)})
    t = time.perf_counter()
    scripts = {}
    for name in names:
        quick, timeout = QUICK[name]
        scripts[name] = run(
            name, [] if args.full else quick, FULL_TIMEOUT if args.full else timeout, env
        )
    rows: list[dict[str, Any]] = []
    for name in names:
        out = BENCH / "results" / f"{name}.json"
        if scripts[name]["status"] == "ok" and out.exists():
            data = json.loads(out.read_text())
            if data.get("parameters", {}).get("run") == run_id:
                rows += [dict(r, script=name) for r in data["rows"]]
    total = time.perf_counter() - t
    print(f"\n== summary of run {run_id} ({'full' if args.full else 'quick'}, {total:.0f} s)")
    print_rows(rows, ceils)
    failed = [n for n, s in scripts.items() if s["status"] != "ok"]
    if failed:
        print(f"FAILED: {', '.join(failed)} (see their logs)")
    write_result("suite", {"run": run_id, "full": args.full, "machine": machine(),
                           "ceilings": ceils, "scripts": scripts, "seconds": total, "rows": rows})  # fmt: skip
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
