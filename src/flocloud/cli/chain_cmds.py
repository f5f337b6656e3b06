"""``flocloud chain``: read the on-chain registry and publish updates to it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson

from flocloud.protocol.params import network_by_name

F = TypeVar("F", bound=Callable[..., Any])


def chain_options(fn: F) -> F:
    opts = [
        click.option(
            "--explorer",
            default="http://127.0.0.1:18080",
            show_default=True,
            envvar="FLOCLOUD_EXPLORER",
            help="Explorer base URL.",
        ),
        click.option(
            "--explorer-kind",
            type=click.Choice(["blockbook", "blockbook-v2", "flosight"]),
            default="blockbook",
            show_default=True,
        ),
        click.option(
            "--network",
            type=click.Choice(["mainnet", "testnet", "regtest"]),
            default="regtest",
            show_default=True,
            envvar="FLOCLOUD_NETWORK",
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _parse_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


@click.group("chain")
def chain_group() -> None:
    """The on-chain registry: supernodes, network rules, applications."""


@chain_group.command()
@chain_options
@click.option("--registry", envvar="FLOCLOUD_REGISTRY", required=True, help="Registry FLO ID.")
@click.option("--confirmations", type=int, default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def state(
    explorer: str,
    explorer_kind: str,
    network: str,
    registry: str,
    confirmations: int,
    as_json: bool,
) -> None:
    """Show the registry state (supernodes, config, apps)."""
    from flocloud.chain.reader import make_reader
    from flocloud.chain.registry import RegistryReader

    async def main() -> Any:
        reader = make_reader(explorer_kind, explorer)
        try:
            return await RegistryReader(
                reader, registry, network_by_name(network), min_confirmations=confirmations
            ).load()
        finally:
            await reader.aclose()

    st = asyncio.run(main())
    if as_json:
        click.echo(orjson.dumps(st.to_json()).decode())
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    nodes = Table(
        "supernode ID", "URI", "public key", title=f"registry {registry} @ height {st.height}"
    )
    for n in st.nodes:
        nodes.add_row(n.id, n.uri, n.pubkey[:16] + "…")
    console.print(nodes)
    apps = Table("application", "admin", "trusted")
    for a in st.apps:
        apps.add_row(a.name, a.admin, ", ".join(a.trusted))
    console.print(apps)
    console.print(
        f"config: {dict(st.config)}  (replication factor {st.replication_factor}, write quorum {st.write_quorum})"
    )
    for txid, why in st.skipped:
        console.print(f"[yellow]skipped {txid}: {why}[/yellow]")


@chain_group.command()
@chain_options
@click.option(
    "--wif", envvar="FLOCLOUD_REGISTRY_WIF", required=True, help="Key of the registry ID."
)
@click.option("--add-node", nargs=3, multiple=True, metavar="ID PUBKEY URI")
@click.option("--remove-node", multiple=True, metavar="ID")
@click.option("--update-node", nargs=2, multiple=True, metavar="ID URI")
@click.option("--config", "config_items", multiple=True, metavar="KEY=VALUE")
@click.option("--add-app", nargs=2, multiple=True, metavar="NAME ADMIN_ID")
@click.option(
    "--trusted",
    nargs=2,
    multiple=True,
    metavar="APP ID",
    help="Trusted writer of an app added here.",
)
@click.option("--remove-app", multiple=True, metavar="NAME")
@click.option(
    "--legacy",
    is_flag=True,
    help="Node entries in the existing FLO cloud's format (bare uri, flocloud endpoint in an "
    "extra key) so its web apps can use the nodes; URIs must be wss://HOST[:PORT]/ws.",
)
@click.option("--fee-rate", type=float, default=1.0, show_default=True, help="sat/byte")
@click.option("--json", "as_json", is_flag=True)
def publish(
    explorer: str,
    explorer_kind: str,
    network: str,
    wif: str,
    add_node: tuple[tuple[str, str, str], ...],
    remove_node: tuple[str, ...],
    update_node: tuple[tuple[str, str], ...],
    config_items: tuple[str, ...],
    add_app: tuple[tuple[str, str], ...],
    trusted: tuple[tuple[str, str], ...],
    remove_app: tuple[str, ...],
    legacy: bool,
    fee_rate: float,
    as_json: bool,
) -> None:
    """Publish a registry update as floData (split over several txs when large)."""
    from flocloud.chain.publisher import Publisher
    from flocloud.chain.reader import make_reader
    from flocloud.chain.registry import make_registry_update
    from flocloud.protocol.keys import PrivateKey

    net = network_by_name(network)
    key = PrivateKey.from_wif(wif, net)
    config: dict[str, Any] = {}
    for item in config_items:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--config")
        k, v = item.split("=", 1)
        config[k] = _parse_value(v)
    apps: dict[str, Any] = {}
    for name, admin in add_app:
        extra = [t for a, t in trusted if a == name]
        apps[name] = {"admin": admin, "trusted": extra} if extra else admin
    if legacy and trusted:
        raise click.UsageError("--legacy publishes apps as plain admin IDs: drop --trusted")
    try:
        payloads = make_registry_update(
            add_nodes=add_node,
            remove_nodes=remove_node,
            update_nodes=update_node,
            config=config,
            add_apps=apps,
            remove_apps=remove_app,
            legacy=legacy,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--add-node") from None
    if not payloads:
        raise click.UsageError("nothing to publish: give at least one change")

    async def main() -> list[str]:
        reader = make_reader(explorer_kind, explorer)
        try:
            return await Publisher(reader, key, fee_rate).publish_many(payloads)
        finally:
            await reader.aclose()

    txids = asyncio.run(main())
    if as_json:
        click.echo(orjson.dumps({"registry": key.address, "txids": txids}).decode())
    else:
        for txid in txids:
            click.echo(txid)
        click.echo(
            f"published {len(txids)} transaction(s) from {key.address}; they apply once confirmed",
            err=True,
        )
