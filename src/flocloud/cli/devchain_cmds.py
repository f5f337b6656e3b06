"""``flocloud devchain``: run the embedded local FLO chain, and talk to a running one."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import aiohttp
import click
import orjson

from flocloud.protocol.errors import ExplorerError

DEFAULT_URL = "http://127.0.0.1:18080"


def default_url() -> str:
    """The dev chain of ``.devnet/devnet.json`` when there is one, else the default port."""
    from flocloud.client.profiles import devnet_dir, read_devnet
    from flocloud.protocol.errors import FlocloudError

    try:
        doc = read_devnet(devnet_dir())
    except FlocloudError:
        doc = None
    url = (doc or {}).get("chain", {}).get("url") if isinstance(doc, dict) else None
    return str(url) if url else DEFAULT_URL


async def _post(url: str, path: str, body: dict[str, Any]) -> Any:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
            session.post(url.rstrip("/") + path, json=body) as resp,
        ):
            doc = await resp.json(content_type=None)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ExplorerError(f"cannot reach the dev chain at {url}: {exc}") from None
    if isinstance(doc, dict) and "error" in doc:
        raise ExplorerError(str(doc["error"]))
    return doc


@click.group("devchain", invoke_without_command=True)
@click.pass_context
def devchain_group(ctx: click.Context) -> None:
    """The local FLO dev chain (plain `flocloud devchain` runs it)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


@devchain_group.command()
@click.option(
    "--dir", "data_dir", type=click.Path(file_okay=False), default=".devchain", show_default=True
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=18080, show_default=True)
@click.option(
    "--block-interval", type=float, default=2.0, show_default=True, help="0 = on demand only."
)
@click.option("--coinbase-address", help="Where block rewards go (default: the faucet).")
def run(
    data_dir: str, host: str, port: int, block_interval: float, coinbase_address: str | None
) -> None:
    """Run the dev chain until Ctrl-C or SIGTERM."""
    from flocloud.chain.devchain import DevChain

    async def main() -> None:
        chain = DevChain(
            Path(data_dir),
            host=host,
            port=port,
            block_interval=block_interval,
            coinbase_address=coinbase_address,
        )
        await chain.start()
        click.echo(
            f"devchain {chain.url}  height {chain.state.height}  faucet {chain.faucet_address}"
        )
        click.echo(f"explorer API: {chain.url}/api/   (Blockbook v1)", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await chain.stop()
        click.echo("devchain stopped", err=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@devchain_group.command()
@click.argument("address")
@click.option("--amount", default="10", show_default=True, help="FLO to send.")
@click.option("--mine", is_flag=True, help="Mine a block right away.")
@click.option(
    "--url",
    default=default_url,
    show_default=".devnet's chain, else " + DEFAULT_URL,
    envvar="FLOCLOUD_EXPLORER",
)
def faucet(address: str, amount: str, mine: bool, url: str) -> None:
    """Fund ADDRESS from the dev chain's faucet."""
    doc = asyncio.run(
        _post(url, "/api/faucet", {"address": address, "amount": amount, "mine": mine})
    )
    click.echo(doc["result"])


@devchain_group.command()
@click.option("--blocks", type=int, default=1, show_default=True)
@click.option(
    "--url",
    default=default_url,
    show_default=".devnet's chain, else " + DEFAULT_URL,
    envvar="FLOCLOUD_EXPLORER",
)
def mine(blocks: int, url: str) -> None:
    """Mine blocks now."""
    doc = asyncio.run(_post(url, "/api/mine", {"blocks": blocks}))
    click.echo(f"height {doc['height']}")


@devchain_group.command()
@click.option("--depth", type=int, default=1, show_default=True, help="Blocks to replace.")
@click.option(
    "--blocks", type=int, help="Blocks of the competing branch (default: depth + 1, longer)."
)
@click.option(
    "--drop", is_flag=True, help="Discard the replaced blocks' transactions (default: re-mine)."
)
@click.option(
    "--url",
    default=default_url,
    show_default=".devnet's chain, else " + DEFAULT_URL,
    envvar="FLOCLOUD_EXPLORER",
)
def reorg(depth: int, blocks: int | None, drop: bool, url: str) -> None:
    """Reorganise: invalidate the newest DEPTH blocks, then mine a competing branch."""

    async def main() -> Any:
        from flocloud.chain.blockbook import BlockbookV1Reader

        async with BlockbookV1Reader(url, retries=0, timeout=5) as reader:
            tip = (await reader.status()).best_height
        gone = await _post(url, "/api/invalidate", {"height": tip - depth + 1, "drop": drop})
        mined = await _post(url, "/api/mine", {"blocks": blocks or depth + 1})
        return gone, mined

    gone, mined = asyncio.run(main())
    click.echo(f"replaced {len(gone['result'])} block(s); height {mined['height']}")


@devchain_group.command()
@click.argument("height", type=int)
@click.option("--drop", is_flag=True, help="Discard their transactions (default: to mempool).")
@click.option(
    "--url",
    default=default_url,
    show_default=".devnet's chain, else " + DEFAULT_URL,
    envvar="FLOCLOUD_EXPLORER",
)
def invalidate(height: int, drop: bool, url: str) -> None:
    """Disconnect blocks HEIGHT..tip (as Flo Core's invalidateblock)."""
    doc = asyncio.run(_post(url, "/api/invalidate", {"height": height, "drop": drop}))
    click.echo(f"disconnected {len(doc['result'])} block(s); height {doc['height']}")


@devchain_group.command()
@click.option(
    "--url",
    default=default_url,
    show_default=".devnet's chain, else " + DEFAULT_URL,
    envvar="FLOCLOUD_EXPLORER",
)
@click.option("--json", "as_json", is_flag=True)
def status(url: str, as_json: bool) -> None:
    """Height, mempool size and faucet address of a running dev chain."""
    from flocloud.chain.blockbook import BlockbookV1Reader

    async def main() -> Any:
        async with BlockbookV1Reader(url, retries=0, timeout=5) as reader:
            return await reader.get("/api/")

    doc = asyncio.run(main())
    bb = doc.get("blockbook", {})
    if as_json:
        click.echo(orjson.dumps(bb).decode())
    else:
        click.echo(
            f"height {bb.get('bestHeight')}  mempool {bb.get('mempoolSize')}  faucet {bb.get('faucet')}"
        )
