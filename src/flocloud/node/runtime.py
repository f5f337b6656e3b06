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
  ``YOUNG`` net allocations, so a burst of in-flight writes is mostly gone (freed by
  reference counting) before one runs, while the garbage only a pass frees stays
  bounded (a few thousand objects).
- The event loop is uvloop's when it is asked for and installed, else asyncio's own
  (``run``); the benchmarks run theirs the same way.
- What the node built while starting (modules, configuration, the registry, the
  application) is moved out of the collector's sight once (``gc.freeze``): it lives as
  long as the process, so scanning it again and again finds nothing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["YOUNG", "after_start", "before_start", "run"]

log = logging.getLogger("flocloud.node")
T = TypeVar("T")

# net allocations between young-generation passes (CPython's default: 700). Not more:
# what only the collector frees waits for a pass (a refused write's exception keeps its
# frames, and with them the envelope, in a cycle), and at 20,000 the flood of refused
# 30 KB writes in tests/node/test_abuse.py::test_sybil_writes held 80 MiB; at 5,000 the
# store's own put path costs the same (bench/README.md, "Garbage collector")
YOUNG = 5_000
OLDER = 20  # passes of a generation between passes of the next (default: 10)


def before_start() -> None:
    gc.set_threshold(YOUNG, OLDER, OLDER)


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
