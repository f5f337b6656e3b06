"""The options every network command shares, and opening a ``Client`` from them.

Invariants owned here:
- Every network command finds the network the same way (``flocloud.client.profiles``:
  flags, environment, ``--profile``, ``.devnet/devnet.json``, the config file's default).
- A command that only reads public data runs without a key file (a throw-away key).
- A key of the wrong network is blamed on the key, not on the registry; an unreachable
  devnet is reported as "not running" with how to start it, not as an explorer failure.
- Failover notices ("trying next") and waits go to stderr as they happen.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from flocloud.client import Client
from flocloud.client.discovery import load_network
from flocloud.client.keyfile import key_file_path, load_key
from flocloud.client.network import NetworkView
from flocloud.client.profiles import ChainSource, find_chain_source
from flocloud.protocol.errors import ChainError, FlocloudError, Unavailable, WrongNetwork
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import network_by_name

from .output import notice

__all__ = ["client_options", "open_client", "run_with_client", "source_options"]

F = TypeVar("F", bound=Callable[..., Any])


def source_options(fn: F) -> F:
    """Where the network is: ``--profile``, ``--explorer``, ``--registry``, ``--explorer-kind``."""
    opts = [
        click.option(
            "--profile",
            envvar="FLOCLOUD_PROFILE",
            help="Named profile of ~/.config/flocloud/config.toml, or mainnet/testnet.",
        ),
        click.option(
            "--explorer",
            help="Chain explorer URL (Blockbook/Flosight or the dev chain); "
            "several separated by commas.",
        ),
        click.option("--registry", help="Registry FLO ID that publishes the supernode list."),
        click.option(
            "--explorer-kind",
            type=click.Choice(["blockbook", "blockbook-v2", "flosight"]),
            default=None,
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def client_options(fn: F) -> F:
    """Options shared by every command that talks to the network."""
    opts = [
        click.option("--wif", envvar="FLOCLOUD_WIF", help="Key to use (default: the key file)."),
        click.option("--key-file", type=click.Path(dir_okay=False), help="Key file to use."),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=5.0,
            show_default=True,
            help="Seconds to wait for any one explorer or supernode.",
        ),
    ]
    fn = source_options(fn)
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def resolve_source(
    explorer: str | None, registry: str | None, kind: str | None, profile: str | None
) -> ChainSource:
    explorers = explorer.split(",")[0] if explorer else None
    source = find_chain_source(explorers, registry, kind, profile=profile)
    if explorer and "," in explorer:
        from dataclasses import replace

        source = replace(source, explorers=tuple(e for e in explorer.split(",") if e))
    return source


def check_key_network(key: PrivateKey, source: ChainSource, supplied: bool) -> None:
    net = network_by_name(source.network)
    if key.network.p2pkh != net.p2pkh:
        where = "the devnet" if source.devnet else f"the {source.network} network ({source.origin})"
        fix = (
            "create one with `flocloud id new --save --testnet`"
            if source.network != "mainnet"
            else "create one with `flocloud id new --save`"
        )
        what = "the key you passed" if supplied else "your key file"
        raise WrongNetwork(
            f"{what} holds a {key.network.name} key ({key.address}) but {where} uses "
            f"{source.network} IDs: {fix}, or pass --key-file/--wif with a {source.network} key"
        )


def devnet_down_message(source: ChainSource) -> str | None:
    """Why a devnet source cannot be reached, when its processes are not running."""
    if source.devnet is None:
        return None
    from flocloud.devnet.control import DevnetState

    try:
        state = DevnetState.load(source.devnet)
    except (FlocloudError, OSError):
        return None
    if state.chain_alive():
        return None
    return (
        f"the devnet in {source.devnet} is not running; start it with ./scripts/devnet-up "
        "(or `flocloud devnet up`)"
    )


async def open_client(
    *,
    wif: str | None,
    key_file: str | None,
    explorer: str | None,
    registry: str | None,
    explorer_kind: str | None,
    profile: str | None,
    timeout: float,
    needs_key: bool = True,
) -> Client:
    source = resolve_source(explorer, registry, explorer_kind, profile)
    ephemeral = not (wif or key_file or key_file_path().exists())
    key = load_key(wif, key_file, required=needs_key, network=source.network)
    check_key_network(key, source, supplied=bool(wif or key_file))

    async def load() -> NetworkView:
        try:
            return await load_network(
                source.all_explorers,
                source.registry,
                key,
                kind=source.kind,
                timeout=timeout,
                on_notice=notice,
            )
        except (ChainError, Unavailable) as exc:
            down = devnet_down_message(source)
            if down:
                raise Unavailable(down) from None
            raise exc from None

    view = await load()

    async def reload() -> NetworkView:
        # a restarted devnet has new ports: read where it is again, then its registry
        nonlocal source
        if source.devnet is not None:
            source = resolve_source(explorer, registry, explorer_kind, profile)
        return await load()

    client = Client(key, view, timeout=timeout, on_notice=notice)
    client.network_loader = reload
    client.ephemeral_key = ephemeral
    return client


def run_with_client(
    needs_key: bool = True,
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Any]]:
    """Decorate ``async fn(client, **kwargs)``: open a ``Client`` from the shared options,
    run it, close it. ``needs_key=False``: public reads work without a key file."""

    def decorate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(
            wif: str | None,
            key_file: str | None,
            explorer: str | None,
            registry: str | None,
            explorer_kind: str | None,
            profile: str | None,
            timeout: float,
            **kwargs: Any,
        ) -> Any:
            async def main() -> Any:
                client = await open_client(
                    wif=wif,
                    key_file=key_file,
                    explorer=explorer,
                    registry=registry,
                    explorer_kind=explorer_kind,
                    profile=profile,
                    timeout=timeout,
                    needs_key=needs_key,
                )
                async with client:
                    return await fn(client, **kwargs)

            try:
                return asyncio.run(main())
            except KeyboardInterrupt:
                sys.exit(130)

        return wrapper

    return decorate
