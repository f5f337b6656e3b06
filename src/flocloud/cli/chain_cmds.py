"""``flocloud chain``: read the on-chain registry and publish updates to it.

``--explorer`` may be given several times (tried in turn); ``kind=URL`` names the
explorer's kind (``blockbook``, ``blockbook-v2``, ``flosight``), otherwise
``--explorer-kind`` applies. Without ``--explorer`` and ``--registry`` the network's
preset (``flocloud.chain.networks``) is used: ``--network mainnet`` reads the existing
FLO cloud's registry through its public explorers.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import orjson

from flocloud.protocol.errors import ExplorerError, FlocloudError
from flocloud.protocol.params import network_by_name

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def chain_options(fn: F) -> F:
    opts = [
        click.option(
            "--explorer",
            "explorers",
            multiple=True,
            envvar="FLOCLOUD_EXPLORER",
            help="Explorer base URL, or KIND=URL; repeat for failover (default: the preset).",
        ),
        click.option(
            "--explorer-kind",
            type=click.Choice(["blockbook", "blockbook-v1", "blockbook-v2", "flosight"]),
            default="blockbook",
            show_default=True,
            envvar="FLOCLOUD_EXPLORER_KIND",
        ),
        click.option(
            "--network",
            type=click.Choice(["mainnet", "testnet", "regtest"]),
            default="regtest",
            show_default=True,
            envvar="FLOCLOUD_NETWORK",
        ),
        click.option(
            "--timeout",
            type=float,
            default=60.0,
            show_default=True,
            help="Seconds for the whole command's chain reads (every request and retry).",
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _local_source(network: str) -> Any:
    """On regtest without ``--explorer``: the network of ``.devnet/devnet.json`` or of the
    default client profile (``flocloud.client.profiles``), else None."""
    if network != "regtest":
        return None
    from flocloud.client.profiles import find_chain_source

    try:
        return find_chain_source(network="regtest")
    except FlocloudError:
        return None


def explorer_list(explorers: tuple[str, ...], kind: str, network: str) -> list[tuple[str, str]]:
    """``(kind, url)`` pairs from ``--explorer`` values, else the devnet's or the profile's
    (regtest), else the network's preset."""
    from flocloud.chain.networks import parse_explorers, preset

    try:
        given = parse_explorers(explorers, kind)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--explorer") from None
    if given:
        return given
    local = _local_source(network)
    if local is not None and local.explorer:
        return [(local.kind, e) for e in local.all_explorers]
    return list(preset(network).explorers)


def make_readers(pairs: list[tuple[str, str]], timeout: float) -> list[Any]:
    from flocloud.chain.explorers import make_reader

    # one request may take the whole budget; the follower's deadline bounds the total
    return [make_reader(k, u, timeout=min(timeout, 20.0)) for k, u in pairs]


def registry_id(registry: str | None, network: str) -> str:
    from flocloud.chain.networks import preset

    local = None if registry else _local_source(network)
    found = registry or (local.registry if local is not None else "") or preset(network).registry
    if not found:
        raise click.UsageError(f"no known registry on {network}: pass --registry")
    return found


def run_chain(coro: Awaitable[T], timeout: float) -> T:
    """Run ``coro`` under one deadline; the deadline is an ExplorerError like any other."""

    async def bounded() -> T:
        try:
            async with asyncio.timeout(timeout):
                return await coro
        except TimeoutError:
            raise ExplorerError(f"the chain did not answer within {timeout} s") from None

    return asyncio.run(bounded())


def publish_options(fn: F) -> F:
    fn = click.option("--json", "as_json", is_flag=True)(fn)
    fn = click.option(
        "--dry-run", is_flag=True, help="Print the floData it would publish; send nothing."
    )(fn)
    fn = click.option(
        "--yes", is_flag=True, help="Publish on mainnet without asking (real FLO is spent)."
    )(fn)
    return click.option("--fee-rate", type=float, default=1.0, show_default=True, help="sat/byte")(
        fn
    )


def _parse_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _key_values(items: tuple[str, ...], hint: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=hint)
        k, v = item.split("=", 1)
        out[k] = _parse_value(v)
    return out


@click.group("chain")
def chain_group() -> None:
    """The on-chain registry: supernodes, network rules, applications."""


@chain_group.command()
@chain_options
@click.option("--registry", envvar="FLOCLOUD_REGISTRY", help="Registry FLO ID (default: preset).")
@click.option("--confirmations", type=click.IntRange(1), default=6, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def state(
    explorers: tuple[str, ...],
    explorer_kind: str,
    network: str,
    timeout: float,
    registry: str | None,
    confirmations: int,
    as_json: bool,
) -> None:
    """Show the registry state (supernodes, config, apps and their admins)."""
    from flocloud.chain.follower import RegistryFollower

    reg = registry_id(registry, network)
    readers = make_readers(explorer_list(explorers, explorer_kind, network), timeout)

    async def main() -> Any:
        async with RegistryFollower(
            readers, reg, network_by_name(network), confirmations=confirmations, timeout=timeout
        ) as follower:
            return await follower.load()

    st = run_chain(main(), timeout + 1)
    if as_json:
        click.echo(orjson.dumps(st.to_json()).decode())
        return
    import sys

    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)  # IDs stay whole in pipes
    epoch = f"block {st.epoch.height} {st.epoch.hash[:16]}…" if st.epoch else "no update yet"
    nodes = Table("supernode ID", "URI", "flocloud endpoint", title=f"registry {reg} @ {epoch}")
    for n in st.nodes:
        nodes.add_row(n.id, n.uri, n.ws_url)
    console.print(nodes)
    apps = Table("application", "admin", "sub-admins", "trusted")
    for a in st.apps:
        apps.add_row(a.name, a.admin, ", ".join(a.sub_admins), ", ".join(a.trusted))
    console.print(apps)
    console.print(
        f"config: {dict(st.config.raw)}  (replication factor {st.replication_factor}, "
        f"write quorum {st.write_quorum}, virtual nodes {st.virtual_nodes})"
    )
    if st.ignored:
        console.print(f"{st.ignored} other transaction(s) of the registry ID carry no update")
    for txid, why in st.skipped:
        console.print(f"[yellow]skipped in {txid}: {why}[/yellow]")
    if st.skipped_total > len(st.skipped):
        console.print(f"[yellow]({st.skipped_total} entries skipped in all)[/yellow]")


def _publish(
    explorers: tuple[str, ...],
    explorer_kind: str,
    network: str,
    timeout: float,
    wif: str,
    payloads: list[bytes],
    fee_rate: float,
    as_json: bool,
    dry_run: bool = False,
    yes: bool = False,
) -> None:
    from flocloud.chain.publisher import Publisher
    from flocloud.protocol.keys import PrivateKey

    key = PrivateKey.from_wif(wif, network_by_name(network))
    if not payloads:
        raise click.UsageError("nothing to publish: give at least one change")
    if dry_run:  # what would be published, and by whom: nothing leaves this machine
        doc = {"sender": key.address, "network": network,
               "floData": [p.decode() for p in payloads]}  # fmt: skip
        if as_json:
            click.echo(orjson.dumps(doc).decode())
        else:
            for p in payloads:
                click.echo(p.decode())
            click.echo(
                f"dry run: {len(payloads)} transaction(s) from {key.address} on {network}; "
                "nothing was sent",
                err=True,
            )
        return
    if network == "mainnet" and not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(
                "publishing on mainnet spends real FLO: pass --yes (or run it on a terminal)"
            )
        click.confirm(
            f"publish {len(payloads)} transaction(s) from {key.address} on mainnet, "
            "spending real FLO?",
            abort=True,
        )
    pairs = explorer_list(explorers, explorer_kind, network)

    async def main() -> list[str]:
        (reader,) = make_readers(pairs[:1], timeout)
        try:
            return await Publisher(reader, key, fee_rate).publish_many(payloads)
        finally:
            await reader.aclose()

    txids = run_chain(main(), timeout)
    if as_json:
        click.echo(orjson.dumps({"sender": key.address, "txids": txids}).decode())
    else:
        for txid in txids:
            click.echo(txid)
        click.echo(
            f"published {len(txids)} transaction(s) from {key.address}; they apply once confirmed",
            err=True,
        )


@chain_group.command()
@chain_options
@click.option(
    "--wif", envvar="FLOCLOUD_REGISTRY_WIF", required=True, help="Key of the registry ID."
)
@click.option("--add-node", nargs=3, multiple=True, metavar="ID PUBKEY URI")
@click.option(
    "--endpoint",
    nargs=2,
    multiple=True,
    metavar="ID URL",
    help="flocloud websocket URL of a node added here (the entry's extra 'flocloud' key).",
)
@click.option("--remove-node", multiple=True, metavar="ID")
@click.option("--update-node", nargs=2, multiple=True, metavar="ID URI")
@click.option("--config", "config_items", multiple=True, metavar="KEY=VALUE")
@click.option("--add-app", nargs=2, multiple=True, metavar="NAME ADMIN_ID")
@click.option("--remove-app", multiple=True, metavar="NAME")
@publish_options
def publish(
    explorers: tuple[str, ...],
    explorer_kind: str,
    network: str,
    timeout: float,
    wif: str,
    add_node: tuple[tuple[str, str, str], ...],
    endpoint: tuple[tuple[str, str], ...],
    remove_node: tuple[str, ...],
    update_node: tuple[tuple[str, str], ...],
    config_items: tuple[str, ...],
    add_app: tuple[tuple[str, str], ...],
    remove_app: tuple[str, ...],
    fee_rate: float,
    as_json: bool,
    dry_run: bool,
    yes: bool,
) -> None:
    """Publish a registry update as floData (split over several txs when large).

    The format is the one the existing cloud's servers read: node URIs are
    host[:port][/path] (TLS), app values are the admin's ID. Sub-admins and trusted IDs
    are published by the app's admin: see `flocloud chain admin`.
    """
    from flocloud.chain.registry import make_registry_update

    endpoints = dict(endpoint)
    unknown = set(endpoints) - {n for n, _, _ in add_node}
    if unknown:
        raise click.BadParameter(
            f"--endpoint for a node not added here: {', '.join(sorted(unknown))}",
            param_hint="--endpoint",
        )
    try:
        payloads = make_registry_update(
            add_nodes=[(i, p, u, endpoints.get(i, "")) for i, p, u in add_node],
            remove_nodes=remove_node,
            update_nodes=update_node,
            config=_key_values(config_items, "--config"),
            add_apps=dict(add_app),
            remove_apps=remove_app,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _publish(
        explorers, explorer_kind, network, timeout, wif, payloads, fee_rate, as_json, dry_run, yes
    )


@chain_group.command()
@chain_options
@click.argument("app")
@click.option("--wif", envvar="FLOCLOUD_ADMIN_WIF", required=True, help="Key of the app's admin.")
@click.option("--add-sub-admin", multiple=True, metavar="ID")
@click.option("--remove-sub-admin", multiple=True, metavar="ID")
@click.option("--add-trusted", multiple=True, metavar="ID")
@click.option("--remove-trusted", multiple=True, metavar="ID")
@click.option("--setting", "settings", multiple=True, metavar="KEY=VALUE")
@click.option(
    "--strict",
    "strict_objects",
    multiple=True,
    metavar="OBJECT",
    help="A strict object (compare-and-set by majority); NAME* a prefix, * all (the "
    "strictObjects setting).",
)
@publish_options
def admin(
    explorers: tuple[str, ...],
    explorer_kind: str,
    network: str,
    timeout: float,
    app: str,
    wif: str,
    add_sub_admin: tuple[str, ...],
    remove_sub_admin: tuple[str, ...],
    add_trusted: tuple[str, ...],
    remove_trusted: tuple[str, ...],
    settings: tuple[str, ...],
    strict_objects: tuple[str, ...],
    fee_rate: float,
    as_json: bool,
    dry_run: bool,
    yes: bool,
) -> None:
    """Publish APP's sub-admins, trusted IDs and settings from its admin's own address."""
    from flocloud.chain.registry import make_admin_update
    from flocloud.protocol.keys import check_address

    net = network_by_name(network)
    for i in (*add_sub_admin, *remove_sub_admin, *add_trusted, *remove_trusted):
        check_address(i, net)
    try:
        payloads = make_admin_update(
            app,
            add_sub_admins=add_sub_admin,
            remove_sub_admins=remove_sub_admin,
            add_trusted=add_trusted,
            remove_trusted=remove_trusted,
            settings=_key_values(settings, "--setting")
            | ({"strictObjects": list(strict_objects)} if strict_objects else {}),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _publish(
        explorers, explorer_kind, network, timeout, wif, payloads, fee_rate, as_json, dry_run, yes
    )
