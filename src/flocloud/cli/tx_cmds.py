"""``flocloud tx decode``: show what a raw FLO transaction contains."""

from __future__ import annotations

from typing import Any

import click
import orjson

from flocloud.chain.script import address_from_script, parse_p2pkh_script_sig
from flocloud.chain.tx import Transaction
from flocloud.protocol.keys import address_from_pubkey
from flocloud.protocol.params import network_by_name

from .output import Output, output_option


def describe(tx: Transaction, network_name: str) -> dict[str, Any]:
    """A JSON-ready description of ``tx``."""
    net = network_by_name(network_name)
    try:
        flo_text: str | None = tx.flo_data.decode("utf-8")
    except UnicodeDecodeError:
        flo_text = None
    inputs = []
    for txin in tx.inputs:
        parsed = None if tx.is_coinbase else parse_p2pkh_script_sig(txin.script_sig)
        inputs.append(
            {
                "prevout": f"{txin.prevout.txid}:{txin.prevout.index}",
                "coinbase": tx.is_coinbase,
                "sender": address_from_pubkey(parsed[1], net) if parsed else None,
                "sequence": txin.sequence,
            }
        )
    return {
        "txid": tx.txid,
        "version": tx.version,
        "locktime": tx.locktime,
        "size": tx.size,
        "floData": flo_text,
        "floDataHex": tx.flo_data.hex(),
        "inputs": inputs,
        "outputs": [
            {"n": n, "value": o.value, "address": address_from_script(o.script_pubkey, net)}
            for n, o in enumerate(tx.outputs)
        ],
    }


@click.group("tx")
def tx_group() -> None:
    """FLO transactions."""


@tx_group.command("decode")
@click.argument("hex_tx")
@click.option(
    "--network",
    type=click.Choice(["mainnet", "testnet", "regtest"]),
    default="mainnet",
    show_default=True,
    help="Network used to show addresses.",
)
@output_option
def decode(hex_tx: str, network: str, output: str | None, as_json: bool) -> None:
    """Decode a raw transaction given as HEX."""
    info = describe(Transaction.from_hex(hex_tx), network)
    if not Output(output, as_json).table:
        click.echo(orjson.dumps(info).decode())
        return
    click.echo(f"txid      {info['txid']}")
    click.echo(f"version   {info['version']}   locktime {info['locktime']}   size {info['size']}")
    shown = info["floData"] if info["floData"] is not None else f"(hex) {info['floDataHex']}"
    click.echo(f"floData   {shown!s}")
    for i in info["inputs"]:
        who = "coinbase" if i["coinbase"] else (i["sender"] or "non-P2PKH")
        click.echo(f"in        {i['prevout']}  {who}")
    for o in info["outputs"]:
        click.echo(f"out {o['n']:<5} {o['value']:>16} sat  {o['address'] or 'non-standard'}")
