"""Process-wide settings of a running supernode: the event loop and the cyclic garbage
collector.

CPython's collector runs a young-generation pass every 700 net allocations and, every
100 of those, a full pass over every tracked object in the process. A node under load
keeps thousands of writes in flight (each a task, futures, an envelope, dicts), so
most young objects survive their first pass and are promoted, and full passes over
the whole heap come often; the pass runs on whichever thread allocated, the event loop
or the store writer, holding the GIL. ``bench/README.md`` ("Garbage collector") has
the figures: the store's own put path took about half the main thread's CPU in it.

Invariants owned here:
- Collection stays on (cycles are still freed); it runs less often: a young pass every
  ``gc_young`` (default ``YOUNG``) net allocations, so a burst of in-flight writes is
  mostly gone (freed by reference counting) before one runs, while the garbage only a
  pass frees stays bounded (at most about ``gc_young`` objects wait for it).
- The event loop is uvloop's when it is asked for and installed, else asyncio's own
  (``run``); the benchmarks run theirs the same way.
- What the node built while starting (modules, configuration, the registry, the
  application) is moved out of the collector's sight once (``gc.freeze``): it lives as
  long as the process, so scanning it again and again finds nothing.
- ``gc_stats`` tells what the collector cost: passes per generation, objects it freed
  (garbage that reference counting could not free: a cycle), and the CPU seconds of the
  threads that ran the passes (``time.thread_time``, so a pass the OS preempted is not
  charged for the wait). The hot paths leave no cycles behind (``node/peers.py``): a
  collected count that grows with the writes is a defect.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["YOUNG", "after_start", "before_start", "gc_stats", "run"]

log = logging.getLogger("flocloud.node")
T = TypeVar("T")

# net allocations between young-generation passes (CPython's default: 700). A pass scans
# the young objects still alive, and under load those are the writes in flight (about 40
# tracked objects each: at 3,200 in flight, 130,000), so each pass scanned them again and
# promoted them for the older passes to scan once more: at 5,000 the home of a replicated
# write spent 55-62 us of CPU per write in the collector, at 100,000 11.5 us
# (bench/README.md, "Stop 30"). What only the collector frees waits longer for a pass;
# the hot paths leave almost none (0.007 objects per replicated write), and the flood of
# refused 30 KB writes in tests/node/test_abuse.py::test_sybil_writes stays within its
# bound (it held 80 MiB at 20,000 once, when a refused write's exception kept the
# envelope in a cycle).
YOUNG = 100_000
OLDER = 20  # passes of a generation between passes of the next (default: 10)


class _GcClock:
    """The CPU seconds spent in collections (a ``gc.callbacks`` entry). A pass runs on
    the thread that allocated, holding the GIL: no other pass starts before it stops."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started


_clock = _GcClock()


def before_start(young: int = YOUNG) -> None:
    """The collector's thresholds (``young``: the config's ``gc_young``) and its clock."""
    gc.set_threshold(young, OLDER, OLDER)
    if _clock not in gc.callbacks:
        gc.callbacks.append(_clock)


def gc_stats() -> dict[str, object]:
    """The collector's passes per generation and the objects it freed, since the process
    started, and the CPU seconds its passes took since ``before_start``."""
    gens = gc.get_stats()
    return {
        "passes": [g["collections"] for g in gens],
        "collected": sum(g["collected"] for g in gens),
        "uncollectable": sum(g["uncollectable"] for g in gens),
        "seconds": round(_clock.seconds, 4),
    }


def after_start() -> None:
    gc.collect()
    gc.freeze()


def run(main: Coroutine[Any, Any, T], event_loop: str = "uvloop") -> T:
    """Run ``main`` to its end on ``event_loop`` ("uvloop": uvloop when installed, else
    asyncio's own loop; "asyncio")."""
    if event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.info("uvloop is not installed: running on asyncio's own event loop")
        else:
            return uvloop.run(main)
    return asyncio.run(main)
