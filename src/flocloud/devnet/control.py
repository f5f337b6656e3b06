"""Drive a running devnet from another terminal, through its ``devnet.json``.

Invariants owned here:
- A recorded process is ours only while its pid runs with the recorded start time
  (``pid_start_time``): a pid the system reused for another program is never signalled.
- ``down`` is idempotent: it stops what is still ours and says how many it stopped
  (zero the second time).
- Every change to ``devnet.json`` is a locked read-modify-write (``fcntl.flock`` on
  ``devnet.lock``) written atomically, so two commands never lose each other's pids.
- ``add_node``/``remove_node`` change the registry on the dev chain exactly as an operator
  would on the real chain (a signed registry update from the registry key), then start or
  stop the process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flocloud.protocol.errors import BadFormat, NotFound

from .network import (
    Network,
    deterministic_key,
    free_port,
    node_process,
    pid_start_time,
    read_state,
    write_node_config,
)

__all__ = ["DevnetState", "alive", "stop_started_elsewhere"]


def alive(pid: int | None, started: int | None = None) -> bool:
    """``pid`` runs (not a zombie) and, when known, started at ``started``."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: the best we can tell
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return started is None or pid_start_time(pid) == started


@dataclass
class DevnetState:
    """The devnet recorded in ``base/devnet.json``."""

    base: Path
    doc: dict[str, Any]

    @classmethod
    def load(cls, base: Path) -> DevnetState:
        return cls(Path(base), read_state(Path(base)))

    @contextlib.contextmanager
    def editing(self) -> Iterator[dict[str, Any]]:
        """Lock, re-read, let the caller change the document, write it back atomically."""
        with open(self.base / "devnet.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.doc = read_state(self.base)
            yield self.doc
            tmp = self.base / "devnet.json.tmp"
            tmp.write_text(json.dumps(self.doc, indent=1))
            tmp.replace(self.base / "devnet.json")

    # -- what is running ----------------------------------------------------------------

    def chain_alive(self) -> bool:
        chain = self.doc.get("chain", {})
        return alive(chain.get("pid"), chain.get("started"))

    def launcher_alive(self) -> bool:
        return alive(self.doc.get("launcher_pid"), self.doc.get("launcher_started"))

    def node(self, index: int) -> dict[str, Any]:
        for n in self.doc.get("nodes", []):
            if n.get("index") == index:
                return dict(n)
        known = ", ".join(str(n["index"]) for n in self.doc.get("nodes", []))
        raise NotFound(f"the devnet in {self.base} has no node {index} (nodes: {known})")

    def node_alive(self, index: int) -> bool:
        n = self.node(index)
        return alive(n.get("pid"), n.get("started"))

    # -- one node -----------------------------------------------------------------------

    def signal_node(self, index: int, sig: signal.Signals, wait: float = 15.0) -> bool:
        """Send ``sig`` to node ``index`` if it is ours and running; wait for it to exit
        (SIGKILL after ``wait`` for a SIGTERM). Returns whether it was running."""
        n = self.node(index)
        pid, started = n.get("pid"), n.get("started")
        if pid is None or not alive(pid, started):
            return False
        os.kill(int(pid), sig)
        if sig in (signal.SIGTERM, signal.SIGKILL):
            _wait_gone([(int(pid), started)], wait)
        return True

    def start_node(self, index: int) -> dict[str, Any]:
        """Start node ``index`` again with its data directory and port (not if running)."""
        n = self.node(index)
        if n.get("removed"):
            raise BadFormat(f"node {index} was removed from the registry; add a new node")
        if alive(n.get("pid"), n.get("started")):
            raise BadFormat(f"node {index} is already running (pid {n['pid']})")
        proc = node_process(self.base, index, int(n.get("port") or _port_of(n["url"])))
        proc.start()
        with self.editing() as doc:
            for entry in doc["nodes"]:
                if entry["index"] == index:
                    entry["pid"], entry["started"] = proc.pid, proc.started
        return {**n, "pid": proc.pid, "started": proc.started, "_proc": proc}

    def log_path(self, index: int | None) -> Path:
        entry = self.doc["chain"] if index is None else self.node(index)
        name = "chain.log" if index is None else f"node{index}.log"
        return Path(entry.get("log") or self.base / name)

    # -- the registry -------------------------------------------------------------------

    async def add_node(self) -> dict[str, Any]:
        """Publish a new supernode in the registry on the dev chain, start it."""
        from flocloud.chain.blockbook import BlockbookV1Reader
        from flocloud.chain.publisher import Publisher
        from flocloud.chain.registry import make_registry_update

        if not self.chain_alive():
            raise NotFound(f"the devnet in {self.base} is not running")
        index = 1 + max((n["index"] for n in self.doc.get("nodes", [])), default=-1)
        base_port = self.doc.get("base_port")
        port = int(base_port) + 1 + index if base_port else free_port()
        proc = node_process(self.base, index, port)
        chain_url = self.doc["chain"]["url"]
        registry_key = deterministic_key("registry")
        write_node_config(
            self.base,
            proc,
            chain_url,
            registry_key.address,
            float(self.doc.get("registry_refresh", 1.0)),
        )
        async with BlockbookV1Reader(chain_url) as reader:
            await Publisher(reader, registry_key).publish_many(
                make_registry_update(add_nodes=[(proc.id, proc.key.pubkey_hex, proc.ws_url)])
            )
        await _mine(chain_url)
        proc.start()
        entry = {
            "index": index,
            "id": proc.id,
            "url": proc.url,
            "ws": proc.ws_url,
            "pid": proc.pid,
            "started": proc.started,
            "port": port,
            "removed": False,
            "log": str(proc.log_path),
        }
        with self.editing() as doc:
            doc["nodes"].append(entry)
        return {**entry, "_proc": proc}

    async def remove_node(self, index: int) -> dict[str, Any]:
        """Remove node ``index`` from the registry on the dev chain, then stop it."""
        from flocloud.chain.blockbook import BlockbookV1Reader
        from flocloud.chain.publisher import Publisher
        from flocloud.chain.registry import make_registry_update

        n = self.node(index)
        if n.get("removed"):
            raise BadFormat(f"node {index} is already removed")
        chain_url = self.doc["chain"]["url"]
        async with BlockbookV1Reader(chain_url) as reader:
            await Publisher(reader, deterministic_key("registry")).publish_many(
                make_registry_update(remove_nodes=[n["id"]])
            )
        await _mine(chain_url)
        self.signal_node(index, signal.SIGTERM)
        with self.editing() as doc:
            for entry in doc["nodes"]:
                if entry["index"] == index:
                    entry["removed"] = True
        return n

    # -- everything ---------------------------------------------------------------------

    def down(
        self, progress: Callable[[str], None] = lambda _m: None, *, launcher: bool = True
    ) -> tuple[int, int]:
        """Stop every process of the devnet that is still ours (``launcher=False``: all but
        the ``devnet up`` process). Returns (stopped, killed)."""
        stopped: list[tuple[int, int | None]] = []
        if launcher and self.launcher_alive():
            pid, started = int(self.doc["launcher_pid"]), self.doc.get("launcher_started")
            progress(f"stopping `devnet up` (pid {pid})")
            os.kill(pid, signal.SIGTERM)  # it stops its children cleanly
            _wait_gone([(pid, started)], 20)
            stopped.append((pid, started))
        procs = [(n, f"node {n['index']}") for n in self.doc.get("nodes", [])]
        procs.append((self.doc.get("chain", {}), "chain"))
        children: list[tuple[int, int | None]] = []
        for entry, name in procs:
            if alive(entry.get("pid"), entry.get("started")):
                progress(f"stopping {name} (pid {entry['pid']})")
                os.kill(int(entry["pid"]), signal.SIGTERM)
                children.append((int(entry["pid"]), entry.get("started")))
        killed = _wait_gone(children, 15)
        return len(stopped) + len(children), killed


def _wait_gone(procs: list[tuple[int, int | None]], timeout: float) -> int:
    """Wait until each (pid, start) is gone; SIGKILL what is left. Returns how many."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p, s) for p, s in procs):
        time.sleep(0.05)
    left = [p for p, s in procs if alive(p, s)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(left)


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[-1].split("/")[0])


async def _mine(chain_url: str) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.post(chain_url + "/api/mine", json={"blocks": 1}) as resp,
    ):
        if resp.status != 200:
            raise BadFormat(f"mining failed: {await resp.text()}")


def stop_started_elsewhere(net: Network) -> None:
    """Make ``net.stop()`` also stop the processes that ``devnet start`` (re)started from
    another terminal, as its state file records them."""

    def hook() -> None:
        if net.state_file.exists():
            DevnetState.load(net.base).down(launcher=False)

    net.stop_hooks.append(hook)
