"""``flocloud node init | run``: create and run a supernode."""

from __future__ import annotations

import os
from pathlib import Path

import click
import orjson

from flocloud.client.keyfile import write_secret
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import network_by_name

CONFIG_TEMPLATE = """# flocloud supernode configuration (all settings: config.example.toml)
network = "{network}"
host = "{host}"
port = {port}
data_dir = "data"
key_file = "node.key"
public_url = "{uri}"

[chain]
explorer = "{explorer}"
registry = "{registry}"
"""


@click.group("node")
def node_group() -> None:
    """Run a supernode."""


@node_group.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--network",
    type=click.Choice(["mainnet", "testnet", "regtest"]),
    default="regtest",
    show_default=True,
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=7400, show_default=True)
@click.option("--public-url", help="URI published in the registry (default ws://HOST:PORT/ws).")
@click.option("--explorer", default="", help="Chain explorer to read the registry from.")
@click.option("--registry", default="", help="Registry FLO ID.")
@click.option("--force", is_flag=True, help="Overwrite an existing key and config.")
@click.option("--json", "as_json", is_flag=True)
def init(
    directory: str,
    network: str,
    host: str,
    port: int,
    public_url: str | None,
    explorer: str,
    registry: str,
    force: bool,
    as_json: bool,
) -> None:
    """Create DIRECTORY with a node key (0600) and node.toml; print the registry entry."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    key_path, cfg_path = d / "node.key", d / "node.toml"
    if (key_path.exists() or cfg_path.exists()) and not force:
        raise click.ClickException(f"{d} already holds a node (use --force to replace it)")
    while True:
        try:
            key = PrivateKey(os.urandom(32), network_by_name(network))
            break
        except Exception:  # pragma: no cover - secret out of range, astronomically rare
            continue
    write_secret(key_path, key.to_wif() + "\n")  # 0600, also over an older 0644 file
    uri = public_url or f"ws://{host}:{port}/ws"
    cfg_path.write_text(
        CONFIG_TEMPLATE.format(
            network=network, host=host, port=port, uri=uri, explorer=explorer, registry=registry
        )
    )
    from flocloud.chain.registry import node_entry

    published = node_entry(key.pubkey_hex, uri)  # bare uri for the existing cloud + endpoint
    entry = {"SuperNodeStorage": {"newNodes": {key.address: published}}}
    command = (
        f"flocloud chain publish --network {network} --wif <REGISTRY_WIF> --add-node "
        f"{key.address} {key.pubkey_hex} {published['uri']} --endpoint {key.address} {uri}"
    )
    if as_json:
        click.echo(
            orjson.dumps(
                {
                    "floID": key.address,
                    "pubKey": key.pubkey_hex,
                    "uri": uri,
                    "config": str(cfg_path),
                    "registryEntry": entry,
                    "publishCommand": command,
                }
            ).decode()
        )
        return
    click.echo(f"node ID   {key.address}\npublic key {key.pubkey_hex}\nconfig    {cfg_path}\n")
    click.echo("To add this node, the registry publishes:")
    click.echo(f"  {orjson.dumps(entry).decode()}")
    click.echo(f"for example with:\n  {command}")


@node_group.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="node.toml")
@click.option("--data-dir", help="Data directory (overrides the config).")
@click.option("--host")
@click.option("--port", type=int)
def run(
    config_path: str | None,
    data_dir: str | None,
    host: str | None,
    port: int | None,
) -> None:
    """Run a supernode until SIGTERM or Ctrl-C.

    The node key comes from the environment (FLOCLOUD_NODE_WIF) or the config's key_file,
    never from an argument: arguments are visible to every user in ``ps``."""
    from flocloud.node.config import load_config
    from flocloud.node.server import run_node

    cfg = load_config(
        Path(config_path) if config_path else None, data_dir=data_dir, host=host, port=port
    )
    cfg.key()  # fail early with a clear message when there is no key
    run_node(cfg)
