"""``flocloud id``: make, show and check FLO IDs.

Invariant: a WIF is printed only where the user asked for it (``id new`` without
``--save``, ``id show``, or ``--show-wif``); ``--save`` writes it to the key file (0600).
"""

from __future__ import annotations

import os
import sys

import click

from flocloud.client.keyfile import key_file_path, load_key, save_key
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey, decode_address
from flocloud.protocol.params import MAINNET, TESTNET

from .output import Output, output_option


def _emit(data: dict[str, str], output: str | None, as_json: bool) -> None:
    Output(output, as_json).doc(data, "\n".join(f"{k:7} {v}" for k, v in data.items()))


@click.group("id")
def id_group() -> None:
    """FLO identities: new keys, show a key, check an address."""


@id_group.command("new")
@click.option("--testnet", is_flag=True, help="Make a testnet/regtest ID (o…).")
@click.option("--save", is_flag=True, help="Write the key file the CLI uses by default.")
@click.option("--show-wif", is_flag=True, help="With --save, also print the WIF.")
@click.option("--force", is_flag=True, help="With --save, overwrite an existing key file.")
@output_option
def id_new(
    testnet: bool, save: bool, show_wif: bool, force: bool, output: str | None, as_json: bool
) -> None:
    """Generate a new key and print its FLO ID, public key and WIF."""
    while True:
        try:
            key = PrivateKey(os.urandom(32), TESTNET if testnet else MAINNET)
            break
        except FlocloudError:  # astronomically rare: secret >= curve order
            continue
    data = {"floID": key.address, "pubKey": key.pubkey_hex}
    if save:
        path = key_file_path()
        if path.exists() and not force:
            raise click.ClickException(f"{path} exists; use --force to replace it")
        data["keyFile"] = str(save_key(key, path))
    if not save or show_wif:
        data["wif"] = key.to_wif()
    _emit(data, output, as_json)


@id_group.command("show")
@click.argument("wif", required=False)
@click.option("--key-file", type=click.Path(dir_okay=False), help="Instead of WIF.")
@output_option
def id_show(wif: str | None, key_file: str | None, output: str | None, as_json: bool) -> None:
    """Show the FLO ID and public key of WIF, or of the key file (its WIF stays hidden)."""
    key = PrivateKey.from_wif(wif) if wif else load_key(None, key_file)
    data = {
        "floID": key.address,
        "pubKey": key.pubkey_hex,
        "network": "mainnet" if key.network is MAINNET else "testnet",
    }
    if wif:
        data["wif"] = key.to_wif()
    _emit(data, output, as_json)


@id_group.command("check")
@click.argument("address")
@output_option
def id_check(address: str, output: str | None, as_json: bool) -> None:
    """Check ADDRESS; exit code 1 when it is invalid."""
    try:
        info = decode_address(address)
    except FlocloudError as exc:
        data = {"address": address, "valid": False, "error": exc.message, "code": exc.code}
        Output(output, as_json).doc(data, f"invalid: {exc.message}")
        sys.exit(1)
    network = "mainnet" if info.network is MAINNET else "testnet/regtest"
    data2 = {
        "address": address,
        "valid": True,
        "network": network,
        "kind": info.kind,
        "hash160": info.hash160.hex(),
    }
    text = f"valid {info.kind} address on {network} (hash160 {info.hash160.hex()})"
    Output(output, as_json).doc(data2, text)
