"""The dev fault file (``Links.refresh_faults``): every version the devnet writes is read
and logged once, so ``Network.partitioned`` can wait for the line of the version it wrote."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from flocloud.node.links import Links


def _write(path: Path, blocked: list[str], mtime_ns: int | None = None) -> None:
    """As the devnet writes it: a new file replacing the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"partition": blocked}))
    if mtime_ns is not None:  # as if written within the same tick of the clock
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
    tmp.replace(path)


def test_every_version_of_the_fault_file_is_read_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "faults.json"
    config = SimpleNamespace(fault_file="faults.json", path=lambda name: tmp_path / name)
    links = Links(SimpleNamespace(node=SimpleNamespace(config=config)))  # type: ignore[arg-type]
    changes: list[set[str]] = []

    def refresh() -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="flocloud"):
            links.refresh_faults(lambda: changes.append(set(links.blocked)))
        return [r.getMessage() for r in caplog.records if "partitioned from" in r.getMessage()]

    _write(path, ["a"])
    assert refresh() == ["partitioned from ['a']"]
    assert refresh() == []  # the same version: not read again
    tick = path.stat().st_mtime_ns
    _write(path, [], mtime_ns=tick)  # healed within the same tick: still a new version
    assert refresh() == ["partitioned from nobody"] and links.blocked == set()
    _write(path, ["a"])
    _write(path, ["a"])  # the same set again: logged, but nothing changed
    assert refresh() == ["partitioned from ['a']"]
    _write(path, ["a"])
    assert refresh() == ["partitioned from ['a']"]
    assert changes == [{"a"}, set(), {"a"}]
