"""Soak the replication simulator: many seeds, larger networks; prints a summary.

    python bench/sim_soak.py --seeds 5000 --start 100000 [--nodes 50] [--variant NAME]
        [--minutes 14] [--every 50] [--every-seconds 10] [--objects]

Each failing seed prints the one-line command that replays it. A progress line (seeds
done / total, failures, acked writes, acked writes lost, excused duplicates, events, elapsed,
rate, ETA) is printed and flushed every ``--every`` seeds or ``--every-seconds``, whichever
comes first. Writes ``bench/results/sim_soak.json`` (seeds run, failures, events and time).

Invariants owned here:
- Whatever ends the run (the last seed, the ``--minutes`` budget, Ctrl-C, SIGTERM from a
  timeout), the summary and the JSON cover exactly the seeds completed: ``start`` to
  ``start + completed - 1``; a seed cut short is not counted. The JSON says how it ended
  (``stopped``: ``done``, ``budget`` or ``interrupted``; ``interrupted`` true for a
  signal), so a run killed by a timeout still yields figures.
- A second signal while the summary is written is ignored: the JSON is always written.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).parent)]

from tests.sim.run import Result, run  # noqa: E402
from tests.sim.variants import VARIANTS  # noqa: E402

from results_file import write_result  # noqa: E402

LOST = " lost on replica "  # the acked checker's violation (tests/sim/checks.py)


SIZES = (3, 4, 5, 7, 10, 16, 25, 50)


def soak_nodes(seed: int) -> int:
    """The network size of a seed: every size in turn for each residue of ``seed % 4``
    (the simulator runs objects when ``seed % 4 == 1``). Until stop 31 it was
    ``SIZES[seed % 8]``, which gave objects 4 and 16 nodes only."""
    return SIZES[(seed // 4) % len(SIZES)]


@dataclass
class Tally:
    """What the seeds completed so far add up to."""

    done: int = 0
    failed: list[int] = field(default_factory=list)
    known: list[int] = field(
        default_factory=list
    )  # seeds with an excused duplicate (a dot's store left)
    duplicates: int = 0  # excused duplicates seen (``Result.known`` entries)
    lost: int = 0  # acked writes missing on a replica after the heal (must be 0)
    acked: int = 0
    events: int = 0

    def add(self, seed: int, res: Result) -> None:
        self.done += 1
        self.events += res.events
        self.acked += res.acked
        self.duplicates += len(res.known)
        self.lost += sum(1 for v in res.violations if LOST in v)
        if res.known:
            self.known.append(seed)
        if not res.ok:
            self.failed.append(seed)


def _clock(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds)
    return (
        f"{s // 3600}h{s // 60 % 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
    )


def progress(t: Tally, total: int, took: float) -> str:
    rate = t.done / took if took > 0 else 0.0
    eta = _clock((total - t.done) / rate) if rate > 0 else "?"
    return (
        f"[{t.done}/{total} seeds {t.done / total:.0%}] failed {len(t.failed)}, "
        f"acked {t.acked}, lost {t.lost}, excused duplicates {t.duplicates} "
        f"({len(t.known)} seeds), events {t.events}, {_clock(took)} elapsed, "
        f"{rate:.1f} seeds/s, ETA {eta}"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=2000)
    ap.add_argument("--start", type=int, default=100_000)
    ap.add_argument(
        "--objects", action="store_true",
        help="merge and strict objects in every seed (by default one seed of four)",
    )  # fmt: skip
    ap.add_argument("--nodes", type=int, help="fixed network size (default: soak_nodes, 3-50)")
    ap.add_argument("--variant", choices=sorted(VARIANTS))
    ap.add_argument("--minutes", type=float, help="wall-time budget: stop cleanly after it")
    ap.add_argument("--every", type=int, default=50, help="progress line every N seeds")
    ap.add_argument("--every-seconds", type=float, default=10.0, help="... or every S seconds")
    ap.add_argument("--no-json", action="store_true")
    a = ap.parse_args()
    if a.seeds < 1:
        ap.error("--seeds must be at least 1")
    # SIGTERM (a timeout, the suite) unwinds like Ctrl-C: the seeds done are reported
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    t = Tally()
    stopped = "done"
    t0 = time.perf_counter()
    last_line = t0
    try:
        for seed in range(a.start, a.start + a.seeds):
            now = time.perf_counter()
            if a.minutes is not None and now - t0 >= a.minutes * 60:
                stopped = "budget"
                break
            nodes = a.nodes or soak_nodes(seed)
            kw = {"objects": True} if a.objects else {}
            res = run(seed, nodes, VARIANTS[a.variant]() if a.variant else None, **kw)
            t.add(seed, res)
            if not res.ok:
                print(f"FAIL {res.config.replay()}: {res.violations[0]}", flush=True)
            now = time.perf_counter()
            if t.done < a.seeds and (t.done % a.every == 0 or now - last_line >= a.every_seconds):
                print(progress(t, a.seeds, now - t0), flush=True)
                last_line = now
    except KeyboardInterrupt:
        stopped = "interrupted"
    # the summary and the JSON are written whatever comes next
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    took = time.perf_counter() - t0
    if stopped != "done":
        print(
            f"stopped ({'interrupted by a signal' if stopped == 'interrupted' else 'budget'}) "
            f"after {t.done} of {a.seeds} seeds: seeds {a.start}..{a.start + t.done - 1}",
            flush=True,
        )
    per_seed = f"{took / t.done * 1000:.0f} ms per seed" if t.done else "no seed completed"
    print(
        f"{t.done} seeds, {len(t.failed)} failed, {len(t.known)} with an excused duplicate "
        f"(a dot's store left the network: {t.duplicates}), {t.acked} writes acked, {t.lost} acked "
        f"writes lost, {t.events} events, "
        f"{took:.1f} s ({per_seed}; machine load not controlled)",
        flush=True,
    )
    if not a.no_json:
        write_result(
            "sim_soak",
            {"seeds": t.done, "start": a.start, "failed": t.failed, "known": t.known,
             "acked": t.acked, "events": t.events, "seconds": took, "variant": a.variant,
             "requested": a.seeds, "completed": t.done, "interrupted": stopped == "interrupted",
             "stopped": stopped, "minutes": a.minutes, "lost": t.lost,
             "duplicates": t.duplicates},
        )  # fmt: skip
        sys.stdout.flush()
    return 1 if t.failed else 130 if stopped == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())
