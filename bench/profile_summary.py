"""Summarize py-spy raw stacks (``node_ingest.py --profile OUT``): samples per thread, and
the functions with the most samples on top of the stack (self) and anywhere in it
(inclusive). Idle threads are not sampled (py-spy without ``--idle``), so the shares are of
the time the node's threads were running or waiting for the GIL.
Usage: .venv/bin/python bench/profile_summary.py OUT [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

LINE = re.compile(r" \(([^)]*?):\d+\)$")


def frame_name(frame: str) -> str:
    """``fn (path/to/file.py:12)`` -> ``fn (file.py)``: lines of one function together."""
    m = LINE.search(frame)
    if not m:
        return frame.strip()
    path = m.group(1)
    short = "/".join(path.split("/")[-2:])
    return f"{frame[: m.start()].strip()} ({short})"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("raw", type=Path)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in args.raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread ")), "thread ?")
        code = [f for f in frames if not f.startswith(("thread ", "process "))]
        total += n
        threads[thread] += n
        if code:
            own[frame_name(code[-1])] += n
            for name in {frame_name(f) for f in code}:
                inclusive[name] += n
    print(f"{total} samples")
    print("by thread:")
    for t, n in threads.most_common():
        print(f"  {n / total:6.1%}  {t}")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"top {args.top} ({title}):")
        for name, n in counter.most_common(args.top):
            print(f"  {n / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
