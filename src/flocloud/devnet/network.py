"""``Network``: start, stop, kill and restart a local flocloud network of real processes.

Invariants owned here:
- Every process is a real OS process on 127.0.0.1 with its own data directory and log
  file under ``base_dir``; ports are free ports picked at start, or ``base_port`` (the
  chain) and ``base_port + 1 + i`` (node i) when fixed ports are asked for.
- Keys are deterministic per index (``deterministic_key``), for development only: anyone
  can recompute them. A random seed is logged for anything random a test does.
- ``devnet.json`` in ``base_dir`` records pids (with each process's start time, so a
  reused pid is never taken for ours), ports, IDs and URLs, so ``flocloud devnet``
  commands work from another terminal (``flocloud.devnet.control``).
- Every wait is bounded and scaled by ``timeout_factor`` (env FLOCLOUD_TEST_TIMEOUT_FACTOR);
  a timeout names the process and shows the tail of its log.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from flocloud.client.keyfile import write_secret
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST

if TYPE_CHECKING:
    from flocloud.protocol.membership import Membership

__all__ = [
    "ChainProcess",
    "Network",
    "NodeProcess",
    "deterministic_key",
    "free_port",
    "free_port_run",
    "standalone_node",
]

log = logging.getLogger("flocloud.devnet")
COIN = 100_000_000
# a registry update applies 6 blocks deep (the default everywhere); the devnet mines
# them at once after publishing, so nothing waits for the block interval
CONFIRMATIONS = 6


def deterministic_key(label: str) -> PrivateKey:
    """A regtest key derived from ``label`` (development only: not secret)."""
    return PrivateKey(hashlib.sha256(b"flocloud-devnet-" + label.encode()).digest(), REGTEST)


_HANDED: set[int] = set()  # ports free_port gave out in this process


def free_port() -> int:
    """A port free on 127.0.0.1 now, below the kernel's ephemeral range (the kernel's own
    pick, port 0, lies inside it: an outgoing connection could take it before the node
    binds it, seen once in a full test run), never one this process was given before."""
    for _ in range(50):
        port = free_port_run(1)
        if port not in _HANDED:
            _HANDED.add(port)
            return port
    raise OSError("no free port on 127.0.0.1 that was not handed out already")


def free_port_run(count: int) -> int:
    """A port ``p`` with ``p .. p + count - 1`` all free on 127.0.0.1 now, for a fixed
    ``--base-port``. It is picked below the kernel's ephemeral range, so an outgoing
    connection cannot take one of them between this check and the bind."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = low - count
    if top <= 10_000:
        raise OSError(f"no room for {count} ports between 10000 and the ephemeral range ({low})")
    for base in random.Random().sample(range(10_000, top), min(200, top - 10_000)):
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise OSError(f"no {count} free consecutive ports on 127.0.0.1")


def pid_start_time(pid: int | None) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot; None where unknown):
    with the pid it names one process, even after the pid is reused."""
    if not pid:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 else None


def node_process(base: Path, index: int, port: int) -> NodeProcess:
    """Supernode ``index`` of the devnet in ``base`` (not started)."""
    return NodeProcess(
        f"node {index}",
        [*_python(), "node", "run", "--config", str(base / f"node{index}" / "node.toml")],
        base / f"node{index}.log",
        f"http://127.0.0.1:{port}/healthz",
        index=index,
        port=port,
        key=deterministic_key(f"node-{index}"),
    )


def write_node_config(
    base: Path, node: NodeProcess, chain_url: str, registry: str, refresh: float
) -> None:
    """The node's key (0600) and ``node.toml`` under ``base/node<i>``."""
    d = base / f"node{node.index}"
    d.mkdir(parents=True, exist_ok=True)
    key_path = d / "node.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(node.key.to_wif() + "\n")
    (d / "node.toml").write_text(
        f'network = "regtest"\nhost = "127.0.0.1"\nport = {node.port}\ndata_dir = "data"\n'
        f'key_file = "node.key"\npublic_url = "{node.ws_url}"\nfault_file = "faults.json"\n\n'
        f'[chain]\nexplorer = "{chain_url}"\nregistry = "{registry}"\n'
        f"refresh_seconds = {refresh}\n\n"
        # a local network converges fast: compare replicas often, hand off soon
        "[replication]\nanti_entropy_seconds = 1.0\nsettle_seconds = 2.0\nhandoff_grace_seconds = "
        f"{max(2.0, 3 * refresh)}\n"
        # its stores are as new as the network: none replaced a disk that voted (§5.6)
        "young_store_seconds = 0.0\n"
        # every client of a local network is 127.0.0.1: one source with room for all
        f"\n[limits]\n{LOOPBACK_BUDGETS}"
    )


def timeout_factor() -> float:
    try:
        return float(os.environ.get("FLOCLOUD_TEST_TIMEOUT_FACTOR", "1"))
    except ValueError:
        return 1.0


@dataclass
class Proc:
    """A child process with a log file and a health URL."""

    name: str
    args: list[str]
    log_path: Path
    health_url: str
    popen: subprocess.Popen[bytes] | None = None
    started: int | None = None  # pid_start_time of the running process

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.popen = subprocess.Popen(
            self.args, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
        )
        logf.close()
        self.started = pid_start_time(self.popen.pid)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout * timeout_factor()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if not self.running:
                    raise RuntimeError(
                        f"[{self.name}] exited with {self.popen.returncode if self.popen else '?'}:\n{self.log_tail()}"
                    )
                try:
                    async with session.get(self.health_url) as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, OSError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"[{self.name}] not healthy after {timeout}s:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.1)


def _python() -> list[str]:
    return [sys.executable, "-m", "flocloud.cli"]


@dataclass
class ChainProcess(Proc):
    port: int = 0

    @classmethod
    def make(cls, base: Path, port: int, block_interval: float) -> ChainProcess:
        args = [
            *_python(),
            "devchain",
            "run",
            "--dir",
            str(base / "chain"),
            "--port",
            str(port),
            "--block-interval",
            str(block_interval),
        ]
        return cls("chain", args, base / "chain.log", f"http://127.0.0.1:{port}/api/", port=port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class NodeProcess(Proc):
    index: int = 0
    port: int = 0
    key: PrivateKey = field(default_factory=lambda: deterministic_key("unused"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def id(self) -> str:
        return self.key.address

    @property
    def registry_entry(self) -> tuple[str, str, str, str]:
        """(ID, public key, bare URI, flocloud endpoint), as the registry publishes it."""
        return (self.id, self.key.pubkey_hex, f"127.0.0.1:{self.port}", self.ws_url)


# a local network's clients all come from 127.0.0.1: per-source budgets sized for all of them
LOOPBACK_BUDGETS = (
    "rate_per_source = 1e6\nburst_per_source = 1000000\nbytes_per_source = 1e10\n"
    "burst_bytes_per_source = 10000000000\nmax_connections_per_source = 1024\n"
)


def standalone_node(directory: Path, *, settings: str = "", name: str = "node") -> NodeProcess:
    """A supernode process with no chain (apps and limits from ``settings``, TOML text
    appended to the config); call ``start()`` and ``await wait_healthy()``."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    key = deterministic_key(f"standalone-{directory}")
    write_secret(directory / "node.key", key.to_wif())
    (directory / "node.toml").write_text(
        f'network = "regtest"\nport = {port}\ndata_dir = "data"\nkey_file = "node.key"\n{settings}\n'
    )
    args = [*_python(), "node", "run", "--config", str(directory / "node.toml")]
    return NodeProcess(
        name, args, directory / "node.log", f"http://127.0.0.1:{port}/healthz", port=port, key=key
    )


class Network:
    """A dev chain plus ``nodes`` supernodes, registered on the chain."""

    def __init__(
        self,
        base_dir: Path,
        *,
        nodes: int = 3,
        block_interval: float = 1.0,
        backup_depth: int = 2,
        write_quorum: int = 2,
        registry_refresh: float = 1.0,
        seed: int | None = None,
        progress: Callable[[str], None] | None = None,
        base_port: int | None = None,
    ) -> None:
        self.base = Path(base_dir).resolve()
        self.n = nodes
        self.block_interval = block_interval
        self.backup_depth = backup_depth
        self.write_quorum = write_quorum
        self.registry_refresh = registry_refresh
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        log.info("devnet random seed %d", self.seed)
        self.progress = progress or (lambda msg: log.info(msg))
        self.registry_key = deterministic_key("registry")
        self.client_key = deterministic_key("client")
        self.base_port = base_port
        self.chain = ChainProcess.make(self.base, self.port_for(None), block_interval)
        self.nodes: list[NodeProcess] = []
        self.removed: set[int] = set()
        self.stop_hooks: list[Callable[[], Any]] = []  # run after stop()
        for i in range(nodes):
            self.nodes.append(node_process(self.base, i, self.port_for(i)))

    def port_for(self, index: int | None) -> int:
        """The chain's port (``index`` None) or node ``index``'s."""
        if self.base_port is None:
            return free_port()
        return self.base_port + (0 if index is None else 1 + index)

    @property
    def state_file(self) -> Path:
        return self.base / "devnet.json"

    def _write_node_config(self, node: NodeProcess) -> None:
        write_node_config(
            self.base, node, self.chain.url, self.registry_key.address, self.registry_refresh
        )

    def _write_client_key(self) -> Path:
        path = self.base / "client-key.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"wif": self.client_key.to_wif(), "floID": self.client_key.address}, fh)
        return path

    async def _publish_registry(self) -> None:
        from flocloud.chain.blockbook import BlockbookV1Reader
        from flocloud.chain.publisher import Publisher
        from flocloud.chain.registry import make_admin_update, make_registry_update

        async with aiohttp.ClientSession() as session:
            body = {"address": self.registry_key.address, "amount": "10", "mine": True}
            async with session.post(self.chain.url + "/api/faucet", json=body) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"faucet failed: {await resp.text()}")
            body = {"address": self.client_key.address, "amount": "1", "mine": True}
            async with session.post(self.chain.url + "/api/faucet", json=body) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"faucet failed: {await resp.text()}")
        updates = make_registry_update(
            add_nodes=[n.registry_entry for n in self.nodes],
            config={"backupDepth": self.backup_depth, "writeQuorum": self.write_quorum},
            add_apps={"demo": self.client_key.address},
        )
        # the app's admin says, from its own address, that objects named strict/... are
        # strict (compare-and-set by majority): the strictObjects setting
        settings = make_admin_update("demo", settings={"strictObjects": ["strict/*"]})
        async with BlockbookV1Reader(self.chain.url) as reader:
            await Publisher(reader, self.registry_key).publish_many(updates)
            await Publisher(reader, self.client_key).publish_many(settings)
        await self.mine(CONFIRMATIONS)

    async def mine(self, blocks: int = 1) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.chain.url + "/api/mine", json={"blocks": blocks}) as resp,
        ):
            if resp.status != 200:
                raise RuntimeError(f"mining failed: {await resp.text()}")

    async def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.progress(f"starting the dev chain on {self.chain.url}")
        self.chain.start()
        await self.chain.wait_healthy(30)
        self.progress(f"dev chain up (pid {self.chain.pid})")
        self.progress("funding the registry and publishing supernodes on chain")
        await self._publish_registry()
        self._write_client_key()
        for node in self.nodes:
            self._write_node_config(node)
            node.start()
        for node in self.nodes:
            self.progress(f"waiting for {node.name} ({node.url})")
            await node.wait_healthy(30)
            self.progress(f"{node.name} up (pid {node.pid})")
        self.save_state()
        self.progress("network is up")

    def save_state(self) -> None:
        doc = {
            "network": "regtest",
            "explorer": self.chain.url,
            "registry": self.registry_key.address,
            "seed": self.seed,
            "launcher_pid": os.getpid(),
            "launcher_started": pid_start_time(os.getpid()),
            "base_port": self.base_port,
            "block_interval": self.block_interval,
            "backup_depth": self.backup_depth,
            "write_quorum": self.write_quorum,
            "registry_refresh": self.registry_refresh,
            "chain": {
                "pid": self.chain.pid,
                "started": self.chain.started,
                "url": self.chain.url,
                "log": str(self.chain.log_path),
            },
            "nodes": [
                {
                    "index": n.index,
                    "id": n.id,
                    "url": n.url,
                    "ws": n.ws_url,
                    "pid": n.pid,
                    "started": n.started,
                    "port": n.port,
                    "removed": n.index in self.removed,
                    "log": str(n.log_path),
                }
                for n in self.nodes
            ],
            "client": {
                "floID": self.client_key.address,
                "key_file": str(self.base / "client-key.json"),
            },
            "dashboard": self.nodes[0].url if self.nodes else "",
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(self.state_file)

    # -- faults and membership ------------------------------------------------------------

    def partition(self, side_a: list[int], side_b: list[int]) -> None:
        """Cut the replication links between two groups of nodes (both directions)."""
        for i in side_a:
            self._faults(i, [self.nodes[j].id for j in side_b])
        for j in side_b:
            self._faults(j, [self.nodes[i].id for i in side_a])

    async def partitioned(
        self, side_a: list[int], side_b: list[int], timeout: float = 15.0
    ) -> None:
        """``partition``, then wait until every node of both sides has applied it (its
        log says ``partitioned from`` its new set), instead of guessing how long the
        heartbeat takes to read the fault file. A node logs every version of its fault
        file it reads (node/links.py), so this holds whatever the network's state was
        before. On a timeout the network is healed first: a failed call leaves no
        partition behind for the tests after it."""
        nodes = [self.nodes[i] for i in (*side_a, *side_b)]
        offsets = {n.index: _size(n.log_path) for n in nodes}
        self.partition(side_a, side_b)
        want = {i: sorted(self.nodes[j].id for j in side_b) for i in side_a}
        want |= {j: sorted(self.nodes[i].id for i in side_a) for j in side_b}
        deadline = time.monotonic() + timeout
        left = set(want)
        while left:
            for i in list(left):
                if f"partitioned from {want[i]}".encode() in _since(
                    self.nodes[i].log_path, offsets[i]
                ):
                    left.discard(i)
            if left and time.monotonic() > deadline:
                self.heal()
                names = ", ".join(self.nodes[i].name for i in sorted(left))
                raise TimeoutError(f"the partition did not take on {names} in {timeout} s")
            await asyncio.sleep(0.05)

    def heal(self) -> None:
        for node in self.nodes:
            self._faults(node.index, [])

    def _faults(self, i: int, blocked: list[str]) -> None:
        path = self.base / f"node{i}" / "faults.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"partition": blocked}))
        tmp.replace(path)

    def store_path(self, node: NodeProcess) -> Path:
        """The node's SQLite store (open it only while the node is stopped)."""
        return self.base / f"node{node.index}" / "data" / "store.sqlite3"

    @property
    def active(self) -> list[NodeProcess]:
        return [n for n in self.nodes if n.index not in self.removed]

    async def add_node(self) -> NodeProcess:
        """Register one more supernode on chain, start it, wait until it is healthy."""
        from flocloud.chain.blockbook import BlockbookV1Reader
        from flocloud.chain.publisher import Publisher
        from flocloud.chain.registry import make_registry_update

        i = len(self.nodes)
        node = node_process(self.base, i, self.port_for(i))
        self.nodes.append(node)
        self._write_node_config(node)
        async with BlockbookV1Reader(self.chain.url) as reader:
            await Publisher(reader, self.registry_key).publish_many(
                make_registry_update(add_nodes=[node.registry_entry])
            )
        await self.mine(CONFIRMATIONS)
        node.start()
        await node.wait_healthy(30)
        self.save_state()
        return node

    async def remove_node(self, i: int) -> None:
        """Remove a supernode from the registry on chain, then stop it."""
        from flocloud.chain.blockbook import BlockbookV1Reader
        from flocloud.chain.publisher import Publisher
        from flocloud.chain.registry import make_registry_update

        async with BlockbookV1Reader(self.chain.url) as reader:
            await Publisher(reader, self.registry_key).publish_many(
                make_registry_update(remove_nodes=[self.nodes[i].id])
            )
        await self.mine(CONFIRMATIONS)
        self.removed.add(i)
        self.nodes[i].stop()
        self.save_state()

    def replicas(self, key_id: str) -> list[NodeProcess]:
        """The nodes that should hold ``key_id`` under the current registry."""
        wanted = self._membership().replicas(key_id)
        return [n for n in self.active if n.id in wanted]

    def _membership(self) -> Membership:
        """The registry's membership as the nodes compute it from the chain."""
        from flocloud.protocol.membership import Membership

        return Membership.build({n.id: (n.ws_url, "") for n in self.active}, self.backup_depth + 1)

    async def _all_records(self, node: NodeProcess, receiver: str) -> list[dict[str, Any]]:
        """Every record a node holds for ``receiver`` (tombstoned ones too), by cursor."""
        from flocloud.client.connection import NodeConnection

        async with aiohttp.ClientSession() as session:
            conn = NodeConnection(node.ws_url, session, timeout=5)
            await conn.connect()
            try:
                out: list[dict[str, Any]] = []
                after = ""
                while True:
                    filt = {
                        "receiver": receiver,
                        "after": after,
                        "limit": 1000,
                        "include_deleted": True,
                    }
                    page = await conn.request("query", filter=filt)
                    out.extend(page["messages"])
                    if not page["more"]:
                        return out
                    after = page["next"]
            finally:
                await conn.close()

    async def records_on(self, node: NodeProcess, receiver: str) -> dict[str, bool]:
        """What a node holds for ``receiver``: message id -> deleted."""
        return {m["id"]: m["deleted"] for m in await self._all_records(node, receiver)}

    async def state_on(self, node: NodeProcess, receiver: str) -> dict[str, Any]:
        """Everything replicas of ``receiver`` must agree on, per message id: dots,
        deleted, tags, note (and the signed envelope itself)."""
        return {
            m["id"]: (
                sorted(map(tuple, m["dots"])),
                m["deleted"],
                m["tags"],
                m["note"],
                m["envelope"],
            )
            for m in await self._all_records(node, receiver)
        }

    async def objects_on(self, app: str, name: str) -> dict[str, tuple[str, Any]]:
        """Each running replica's ``(version, value)`` of an object (``("0", None)`` when
        it has none), read from that node alone."""
        from flocloud.client.connection import NodeConnection
        from flocloud.protocol.errors import NotFound
        from flocloud.protocol.objects import object_id

        out: dict[str, tuple[str, Any]] = {}
        async with aiohttp.ClientSession() as session:
            for node in self.replicas(object_id(app, name, REGTEST)):
                if not node.running:
                    continue
                conn = NodeConnection(node.ws_url, session, timeout=5)
                await conn.connect()
                try:
                    reply = await conn.request("object.get", application=app, name=name)
                    out[node.name] = (reply["version"], reply["value"])
                except NotFound:
                    out[node.name] = ("0", None)
                finally:
                    await conn.close()
        return out

    async def ids_on(self, node: NodeProcess, receiver: str) -> set[str]:
        return set(await self.records_on(node, receiver))

    async def wait_quorum(self, timeout: float = 20.0) -> None:
        """Wait until the nodes know each other from the chain: a write whose home is each
        running node in turn reaches W replicas."""
        from flocloud.client import Client
        from flocloud.protocol.placement import Placement

        running = [n for n in self.active if n.running]
        placement = Placement.build([n.id for n in self.active])
        homes: dict[str, str] = {}  # node id -> a receiver whose home it is
        for i in range(10_000):
            if len(homes) == len(running):
                break
            receiver = deterministic_key(f"probe-{i}").address
            first = placement.preference_list(receiver, 1)[0]
            homes.setdefault(first, receiver)
        probe = await Client.from_chain(
            deterministic_key("probe"),
            explorer=self.chain.url,
            registry=self.registry_key.address,
            request_timeout=3,
        )
        want = min(self.write_quorum, len(self.active))
        try:

            async def quorum() -> bool:
                for node in running:
                    receiver = homes.get(node.id)
                    if receiver is None:
                        continue
                    ack = await probe.put(probe.sign(receiver, os.urandom(4).hex()))
                    if int(ack.get("replicas", 0)) < want:
                        return False
                return True

            await self.wait_until(quorum, timeout, what="a write quorum at every node")
        finally:
            await probe.aclose()
        await self.wait_meshed(timeout)

    async def wait_meshed(self, timeout: float = 20.0) -> None:
        """Wait until every running node has read the log of each running neighbour
        (``pulled`` in ``/api/stats``): their registry views list each other. A write
        quorum alone does not show it: a node that refused a peer it did not list yet has
        that peer marked down a moment, and a write it replicates then goes to a stand-in."""
        running = [n for n in self.active if n.running]
        members = self._membership()
        wanted = {n.id: {m.id for m in running} & members.neighbours(n.id) for n in running}
        # no short per-request timeout: one cut mid-connect left a socket to the collector
        async with aiohttp.ClientSession() as session:

            async def meshed() -> bool:
                for node in running:
                    try:
                        async with session.get(f"{node.url}/api/stats") as resp:
                            stats = await resp.json()
                            pulled = set(stats.get("pulled", {}) if isinstance(stats, dict) else ())
                    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                        return False  # not answering yet: not meshed yet
                    if not wanted[node.id] <= pulled:
                        return False
                return True

            await self.wait_until(meshed, timeout, what="every node to read its neighbours")

    async def wait_converged(self, receivers: list[str], timeout: float = 30.0) -> None:
        """Wait until every running replica of each receiver holds the same state: equal
        key digests (``GET /api/digest/<receiver>``, which cover ids and dots) and, then,
        equal records on every field replicas must agree on (``state_on``): a digest
        match with any other difference is not convergence."""

        async def converged() -> bool:
            async with aiohttp.ClientSession() as session:
                for r in receivers:
                    running = [n for n in self.replicas(r) if n.running]
                    digests = []
                    for n in running:
                        async with session.get(f"{n.url}/api/digest/{r}") as resp:
                            digests.append((await resp.json())["fingerprint"])
                    if any(d != digests[0] for d in digests):
                        return False
                    states = [await self.state_on(n, r) for n in running]
                    if any(st != states[0] for st in states):
                        return False
            return True

        await self.wait_until(
            converged, timeout, what=f"replicas of {len(receivers)} keys to converge"
        )

    def stop(self) -> dict[str, int | None]:
        """Stop every node, then the chain, then run ``stop_hooks`` (``devnet.control``
        adds one that stops what was started from another terminal); returns exit codes
        by name."""
        codes = {n.name: n.stop() for n in self.nodes}
        codes["chain"] = self.chain.stop()
        for hook in self.stop_hooks:  # e.g. nodes (re)started from another terminal
            hook()
        return codes

    def kill(self, i: int) -> None:
        self.nodes[i].kill()

    async def restart(self, i: int) -> None:
        node = self.nodes[i]
        node.stop()
        node.start()
        await node.wait_healthy(30)
        self.save_state()

    async def wait_until(
        self, predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout * timeout_factor()
        while True:
            result = predicate()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what} (seed {self.seed})")
            await asyncio.sleep(0.1)


def read_state(base_dir: Path) -> dict[str, Any]:
    """The devnet.json of ``base_dir``; ``NotFound`` (with how to start one) if none."""
    from flocloud.protocol.errors import BadFormat, NotFound

    path = Path(base_dir) / "devnet.json"
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(
            f"no devnet in {base_dir} (no devnet.json there): start one with "
            "./scripts/devnet-up or `flocloud devnet up`"
        ) from None
    except ValueError:
        raise BadFormat(f"{path} is not valid JSON") from None
    return doc


def _since(path: Path, offset: int) -> bytes:
    """What a log file got after ``offset`` bytes."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
