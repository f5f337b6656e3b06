"""``flocloud devnet up | status | down``: the whole cloud on this machine."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import click
import orjson

from flocloud.devnet.network import Network, read_state


@click.group("devnet")
def devnet_group() -> None:
    """A local network: dev chain + supernodes + dashboard, as real processes."""


@devnet_group.command()
@click.option("--nodes", type=int, default=5, show_default=True)
@click.option(
    "--dir", "base_dir", type=click.Path(file_okay=False), default=".devnet", show_default=True
)
@click.option("--block-interval", type=float, default=2.0, show_default=True)
@click.option("--show-keys", is_flag=True, help="Also print the sample client's WIF.")
def up(nodes: int, base_dir: str, block_interval: float, show_keys: bool) -> None:
    """Start the network, print where everything is, run until Ctrl-C."""
    from rich.console import Console
    from rich.table import Table

    if not 1 <= nodes <= 64:
        raise click.BadParameter("use 1 to 64 nodes", param_hint="--nodes")
    base = Path(base_dir)
    if (base / "devnet.json").exists():
        try:
            old = read_state(base)
            if old.get("chain", {}).get("pid") and _alive(int(old["chain"]["pid"])):
                raise click.ClickException(
                    f"a devnet is already running in {base} (flocloud devnet down --dir {base})"
                )
        except (OSError, ValueError):
            pass
    console = Console(stderr=True)
    net = Network(
        base,
        nodes=nodes,
        block_interval=block_interval,
        backup_depth=min(2, nodes - 1),
        write_quorum=min(2, nodes),
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with console.status("starting the local network…") as status:
            net.progress = lambda msg: status.update(msg)
            try:
                await net.start()
            except BaseException:
                net.stop()
                raise
        table = Table("node", "supernode ID", "URL", title=f"flocloud devnet ({base})")
        for n in net.nodes:
            table.add_row(str(n.index), n.id, n.url)
        Console().print(table)
        Console().print(
            f"dev chain (explorer): {net.chain.url}   registry: {net.registry_key.address}"
        )
        Console().print(f"dashboard: {net.nodes[0].url}/   (any node's URL works)")
        Console().print(
            f"demo app: {net.nodes[0].url}/demo/   browser client: {net.nodes[0].url}/flocloud.js"
        )
        Console().print(
            f"sample client: {net.client_key.address}  (admin of app 'demo'; key file {base / 'client-key.json'})"
        )
        if show_keys:
            Console().print(f"sample client WIF: {net.client_key.to_wif()}")
        Console().print("Ctrl-C stops everything.")
        await stop.wait()
        console.print("stopping…")
        codes = net.stop()
        bad = {k: v for k, v in codes.items() if v not in (0, None)}
        console.print("stopped" + (f" (exit codes {bad})" if bad else " cleanly"))

    asyncio.run(main())


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@devnet_group.command()
@click.option(
    "--dir", "base_dir", type=click.Path(file_okay=False), default=".devnet", show_default=True
)
@click.option("--json", "as_json", is_flag=True)
def status(base_dir: str, as_json: bool) -> None:
    """Is each process of the devnet alive and healthy?"""
    state = read_state(Path(base_dir))

    async def check(url: str) -> bool:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s,
                s.get(url) as r,
            ):
                return r.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def main() -> dict[str, Any]:
        chain_ok = await check(state["chain"]["url"] + "/api/")
        nodes = [{**n, "healthy": await check(n["url"] + "/healthz")} for n in state["nodes"]]
        return {
            "chain": {**state["chain"], "healthy": chain_ok},
            "nodes": nodes,
            "registry": state["registry"],
        }

    result = asyncio.run(main())
    healthy = result["chain"]["healthy"] and all(n["healthy"] for n in result["nodes"])
    if as_json:
        click.echo(orjson.dumps({**result, "healthy": healthy}).decode())
    else:
        click.echo(
            f"chain  {state['chain']['url']}  {'up' if result['chain']['healthy'] else 'DOWN'}"
        )
        for n in result["nodes"]:
            click.echo(
                f"node {n['index']}  {n['id']}  {n['url']}  {'up' if n['healthy'] else 'DOWN'}"
            )
    if not healthy:
        raise SystemExit(1)


@devnet_group.command()
@click.option(
    "--dir", "base_dir", type=click.Path(file_okay=False), default=".devnet", show_default=True
)
def down(base_dir: str) -> None:
    """Stop the processes of a devnet started elsewhere."""
    state = read_state(Path(base_dir))
    launcher = state.get("launcher_pid")
    if launcher and _alive(int(launcher)):
        os.kill(int(launcher), signal.SIGTERM)  # `devnet up` stops its children cleanly
        deadline = time.time() + 20
        while time.time() < deadline and _alive(int(launcher)):
            time.sleep(0.1)
    pids = [int(n["pid"]) for n in state["nodes"] if n.get("pid")] + (
        [int(state["chain"]["pid"])] if state["chain"].get("pid") else []
    )
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    click.echo(
        f"stopped {len(pids)} processes" + (f" ({len(left)} had to be killed)" if left else "")
    )
