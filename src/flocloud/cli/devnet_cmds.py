"""``flocloud devnet``: the whole cloud on this machine, and the controls to break it.

``up | status | down`` for the network; ``stop | start | restart | kill | logs NODE`` for one
supernode; ``add-node | remove-node`` change the registry on the dev chain. Every command
but ``up`` works from another terminal through ``.devnet/devnet.json``
(``flocloud.devnet.control``).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import click

from flocloud.devnet.control import DevnetState, stop_started_elsewhere
from flocloud.devnet.network import Network
from flocloud.protocol.errors import BadFormat, Unavailable

from .output import Output, notice, output_option

dir_option = click.option(
    "--dir",
    "base_dir",
    type=click.Path(file_okay=False),
    default=".devnet",
    show_default=True,
    envvar="FLOCLOUD_DEVNET_DIR",
    help="The devnet's state directory.",
)


@click.group("devnet")
def devnet_group() -> None:
    """A local network: dev chain + supernodes + dashboard, as real processes."""


@devnet_group.command()
@click.option("--nodes", type=click.IntRange(1, 64), default=5, show_default=True)
@dir_option
@click.option("--block-interval", type=float, default=2.0, show_default=True)
@click.option(
    "--base-port",
    type=click.IntRange(1024, 65000),
    help="Fixed ports: the dev chain on PORT, node i on PORT+1+i (default: free ports).",
)
@click.option("--show-keys", is_flag=True, help="Also print the sample client's WIF.")
def up(
    nodes: int, base_dir: str, block_interval: float, base_port: int | None, show_keys: bool
) -> None:
    """Start the network, print where everything is, run until Ctrl-C."""
    from rich.console import Console
    from rich.table import Table

    base = Path(base_dir)
    if (base / "devnet.json").exists():
        old = DevnetState.load(base)
        if old.launcher_alive() or old.chain_alive():
            raise click.ClickException(
                f"a devnet is already running in {base} (flocloud devnet down --dir {base})"
            )
    net = Network(
        base,
        nodes=nodes,
        block_interval=block_interval,
        backup_depth=min(2, nodes - 1),
        write_quorum=min(2, nodes),
        base_port=base_port,
        progress=notice,
    )
    stop_started_elsewhere(net)  # `devnet down` also stops nodes started by `devnet start`

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        started = time.monotonic()
        try:
            await net.start()
        except BaseException:
            net.stop()
            raise
        notice(f"started in {time.monotonic() - started:.1f} s")
        console = Console()
        table = Table("node", "supernode ID", "URL", "pid", title=f"flocloud devnet ({base})")
        for n in net.nodes:
            table.add_row(str(n.index), n.id, n.url, str(n.pid))
        console.print(table)
        console.print(
            f"dev chain (explorer): {net.chain.url}   registry: {net.registry_key.address}"
        )
        console.print(f"dashboard: {net.nodes[0].url}/   (any node's URL works)")
        console.print(
            f"demo app: {net.nodes[0].url}/demo/   browser client: {net.nodes[0].url}/flocloud.js"
        )
        console.print(
            f"sample client: {net.client_key.address}  (admin of app 'demo'; key file "
            f"{base / 'client-key.json'})"
        )
        if show_keys:
            console.print(f"sample client WIF: {net.client_key.to_wif()}")
        console.print("Ctrl-C stops everything; `flocloud devnet --help` drives it from elsewhere.")
        await stop.wait()
        notice("stopping…")
        codes = net.stop()  # also what was (re)started from another terminal
        bad = {k: v for k, v in codes.items() if v not in (0, None, -9)}
        notice("stopped" + (f" (exit codes {bad})" if bad else " cleanly"))

    asyncio.run(main())


async def _healthy(url: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s,
            s.get(url) as r,
        ):
            return r.status == 200
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


def _state(base_dir: str) -> DevnetState:
    return DevnetState.load(Path(base_dir))


@devnet_group.command()
@dir_option
@click.option("--id", "flo_id", metavar="ID", help="Also show which supernodes hold ID.")
@output_option
def status(base_dir: str, flo_id: str | None, output: str | None, as_json: bool) -> None:
    """Each process of the devnet: pid, running, healthy (exit 7 unless all are)."""
    st = _state(base_dir)
    doc = st.doc

    async def main() -> list[dict[str, Any]]:
        rows = [
            {
                "name": "chain",
                "index": None,
                "id": "",
                "url": doc["chain"]["url"],
                "pid": doc["chain"].get("pid"),
                "running": st.chain_alive(),
                "healthy": await _healthy(doc["chain"]["url"] + "/api/"),
            }
        ]
        for n in doc["nodes"]:
            if n.get("removed"):
                continue
            rows.append(
                {
                    "name": f"node {n['index']}",
                    "index": n["index"],
                    "id": n["id"],
                    "url": n["url"],
                    "pid": n.get("pid"),
                    "running": st.node_alive(n["index"]),
                    "healthy": await _healthy(n["url"] + "/healthz"),
                }
            )
        return rows

    rows = asyncio.run(main())
    out = Output(output, as_json, kind="doc")
    healthy = all(r["healthy"] for r in rows)
    where = asyncio.run(_where(doc, flo_id)) if flo_id else None
    if out.fmt == "json":
        result = {"registry": doc["registry"], "healthy": healthy, "chain": rows[0]}
        result["nodes"] = rows[1:]
        if where is not None:
            result["where"] = where
        out.doc(result)
    else:
        out.rows(
            rows,
            [
                ("process", lambda r: r["name"]),
                ("pid", lambda r: str(r["pid"] or "")),
                (
                    "state",
                    lambda r: "up" if r["healthy"] else "running" if r["running"] else "DOWN",
                ),
                ("url", lambda r: r["url"]),
                ("supernode ID", lambda r: r["id"]),
            ],
            title=f"devnet {st.base}  registry {doc['registry']}",
        )
        if where is not None:
            from .sdk_cmds import print_where

            print_where(out, str(flo_id), where)
    if not healthy:
        sys.exit(7)


async def _where(doc: dict[str, Any], flo_id: str) -> list[dict[str, Any]]:
    """``flocloud where`` on this devnet, with a throw-away key (no key file needed)."""
    import os

    from flocloud.client import Client
    from flocloud.client.discovery import load_network
    from flocloud.protocol.keys import PrivateKey
    from flocloud.protocol.params import REGTEST

    key = PrivateKey(os.urandom(32), REGTEST)
    view = await load_network([doc["chain"]["url"]], doc["registry"], key, timeout=5)
    async with Client(key, view, timeout=2) as client:
        return await client.where(flo_id)


@devnet_group.command()
@dir_option
def down(base_dir: str) -> None:
    """Stop the processes of the devnet (those still ours; safe to run twice)."""
    base = Path(base_dir)
    if not (base / "devnet.json").exists():
        click.echo(f"no devnet in {base}: nothing to stop")
        return
    stopped, killed = DevnetState.load(base).down(notice)
    if not stopped:
        click.echo(f"the devnet in {base} is not running: nothing to stop")
        return
    click.echo(f"stopped {stopped} processes" + (f" ({killed} had to be killed)" if killed else ""))


node_arg = click.argument("node", type=int)


async def _wait_node(entry: dict[str, Any]) -> None:
    proc = entry["_proc"]
    await proc.wait_healthy(30)


@devnet_group.command("stop")
@dir_option
@node_arg
def stop_node(base_dir: str, node: int) -> None:
    """Stop supernode NODE cleanly (SIGTERM); its data stays for `devnet start`."""
    if _state(base_dir).signal_node(node, signal.SIGTERM):
        click.echo(f"node {node} stopped")
    else:
        click.echo(f"node {node} was not running")


@devnet_group.command("kill")
@dir_option
@node_arg
@click.option(
    "--signal",
    "sig",
    type=click.Choice(["KILL", "STOP", "CONT", "TERM"]),
    default="KILL",
    show_default=True,
    help="STOP freezes the node (CONT resumes it).",
)
def kill_node(base_dir: str, node: int, sig: str) -> None:
    """Crash supernode NODE (SIGKILL), or freeze it with --signal STOP."""
    if _state(base_dir).signal_node(node, signal.Signals[f"SIG{sig}"]):
        click.echo(f"node {node}: sent SIG{sig}")
    else:
        click.echo(f"node {node} was not running")


@devnet_group.command("start")
@dir_option
@node_arg
def start_node(base_dir: str, node: int) -> None:
    """Start supernode NODE again (same data and port); waits until it is healthy."""
    entry = _state(base_dir).start_node(node)
    asyncio.run(_wait_node(entry))
    click.echo(f"node {node} up (pid {entry['pid']})")


@devnet_group.command("restart")
@dir_option
@node_arg
def restart_node(base_dir: str, node: int) -> None:
    """Stop supernode NODE (if running) and start it again."""
    st = _state(base_dir)
    st.signal_node(node, signal.SIGTERM)
    entry = st.start_node(node)
    asyncio.run(_wait_node(entry))
    click.echo(f"node {node} up (pid {entry['pid']})")


@devnet_group.command("logs")
@dir_option
@click.argument("node", required=False)
@click.option("-n", "--lines", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
def logs(base_dir: str, node: str | None, lines: int, follow: bool) -> None:
    """Print the log of supernode NODE (`chain` for the dev chain)."""
    st = _state(base_dir)
    if node in (None, "chain"):
        index = None
    elif node.isdigit():
        index = int(node)
    else:
        raise BadFormat(f"NODE is a node number or `chain`, not {node!r}")
    path = st.log_path(index)
    try:
        fh = open(path, errors="replace")  # noqa: SIM115 - followed below
    except FileNotFoundError:
        raise Unavailable(f"no log at {path} yet") from None
    with fh:
        for line in fh.readlines()[-lines:]:
            click.echo(line, nl=False)
        while follow:
            line = fh.readline()
            if line:
                click.echo(line, nl=False)
            else:
                try:
                    time.sleep(0.2)
                except KeyboardInterrupt:
                    return


@devnet_group.command("add-node")
@dir_option
def add_node(base_dir: str) -> None:
    """Publish one more supernode in the dev chain's registry and start it."""
    st = _state(base_dir)

    async def main() -> dict[str, Any]:
        entry = await st.add_node()
        await _wait_node(entry)
        return entry

    entry = asyncio.run(main())
    click.echo(f"node {entry['index']} {entry['id']} added on {entry['url']} (pid {entry['pid']})")


@devnet_group.command("remove-node")
@dir_option
@node_arg
def remove_node(base_dir: str, node: int) -> None:
    """Remove supernode NODE from the dev chain's registry, then stop it (its keys are
    handed off to the nodes that replicate them now)."""
    entry = asyncio.run(_state(base_dir).remove_node(node))
    click.echo(f"node {node} {entry['id']} removed from the registry and stopped")
