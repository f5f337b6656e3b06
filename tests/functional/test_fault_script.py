"""The short form of ``bench/faults.py``: a few seconds of seeded faults on 5 real nodes.

It asserts behaviour only: writes were acknowledged during the faults, and after the heal
every acknowledged write is on every replica of its key (no timing is checked).
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from flocloud.devnet.faults import run_faults

pytestmark = pytest.mark.slow
log = logging.getLogger("test_fault_script")


async def test_seeded_faults_lose_no_acknowledged_write(tmp_path: Path) -> None:
    seed = int(os.environ.get("FLOCLOUD_FAULT_SEED", random.randrange(2**31)))
    log.warning("fault script seed %d (rerun: FLOCLOUD_FAULT_SEED=%d)", seed, seed)
    report = await run_faults(tmp_path, seed, seconds=4.0, writers=3)
    assert report.acked > 0, f"seed {seed}: nothing was acknowledged ({report.to_json()})"
    assert not report.lost, f"seed {seed}: acked writes lost: {report.lost[:5]}"
