"""``flocloud sign | verify | encrypt | decrypt | envelope``: pipe-friendly crypto commands.

Invariants:
- Input is a FILE argument or standard input; output goes to standard output, binary-safe,
  so commands compose in pipes (``encrypt | decrypt`` gives back the exact bytes).
- ``sign`` prints ``{"floID", "pubKey", "sign"}`` where ``sign`` is DER (hex) over
  SHA-256 of the input bytes; ``verify`` checks such a signature against the bytes.
"""

from __future__ import annotations

import os
import sys
import time
from typing import BinaryIO

import click
import orjson

from flocloud.client.keyfile import load_key
from flocloud.protocol.encryption import decrypt as ecies_decrypt
from flocloud.protocol.encryption import encrypt as ecies_encrypt
from flocloud.protocol.envelope import Limits, build_envelope, parse_envelope
from flocloud.protocol.errors import BadFormat, InvalidSignature
from flocloud.protocol.keys import (
    address_from_pubkey,
    parse_pubkey,
    pubkey_matches_address,
)
from flocloud.protocol.params import MAINNET, TESTNET
from flocloud.protocol.signatures import sign_data, verify_data


def _read(file: BinaryIO | None) -> bytes:
    return (file or sys.stdin.buffer).read()


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


wif_option = click.option("--wif", envvar="FLOCLOUD_WIF", help="Key (default: the key file).")
key_file_option = click.option("--key-file", type=click.Path(dir_okay=False))


@click.command()
@wif_option
@key_file_option
@click.argument("file", type=click.File("rb"), required=False)
def sign(wif: str | None, key_file: str | None, file: BinaryIO | None) -> None:
    """Sign FILE (or stdin): prints {"floID", "pubKey", "sign"} as JSON."""
    key = load_key(wif, key_file)
    sig = sign_data(key, _read(file))
    click.echo(
        orjson.dumps({"floID": key.address, "pubKey": key.pubkey_hex, "sign": sig.hex()}).decode()
    )


@click.command()
@click.option("--sig", "sig_file", type=click.File("rb"), required=True, help="What sign printed.")
@click.argument("file", type=click.File("rb"), required=False)
def verify(sig_file: BinaryIO, file: BinaryIO | None) -> None:
    """Verify a signature made by `flocloud sign` over FILE (or stdin); exit 1 if invalid."""
    try:
        sig = orjson.loads(sig_file.read())
        pub = parse_pubkey(str(sig["pubKey"]))
        der = bytes.fromhex(str(sig["sign"]))
        flo_id = str(sig.get("floID") or address_from_pubkey(pub, MAINNET))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BadFormat("--sig must be the JSON printed by `flocloud sign`") from None
    if not pubkey_matches_address(pub, flo_id):
        raise InvalidSignature(f"pubKey does not belong to {flo_id}")
    if not verify_data(pub, der, _read(file)):
        click.echo("invalid: signature does not match the data", err=True)
        sys.exit(1)
    click.echo(f"valid signature by {flo_id}")


@click.command()
@click.option("--to", "to_pub", required=True, help="Receiver's public key (hex).")
@click.option("--from", "sender_id", default="", help="Sender ID bound into the ciphertext.")
@click.option("--testnet", is_flag=True, help="The receiver's ID is a testnet/regtest ID.")
@click.argument("file", type=click.File("rb"), required=False)
def encrypt(to_pub: str, sender_id: str, testnet: bool, file: BinaryIO | None) -> None:
    """Encrypt FILE (or stdin) to a public key; writes the binary ciphertext to stdout."""
    pub = parse_pubkey(to_pub)
    receiver_id = address_from_pubkey(pub, TESTNET if testnet else MAINNET)
    blob = ecies_encrypt(
        _read(file),
        pub,
        sender_id=sender_id,
        receiver_id=receiver_id,
        ephemeral_secret=os.urandom(32),
        nonce=os.urandom(12),
    )
    _write(blob)


@click.command()
@wif_option
@key_file_option
@click.option("--from", "sender_id", default="", help="Sender ID the ciphertext was bound to.")
@click.argument("file", type=click.File("rb"), required=False)
def decrypt(wif: str | None, key_file: str | None, sender_id: str, file: BinaryIO | None) -> None:
    """Decrypt FILE (or stdin) with your key; writes the exact original bytes to stdout."""
    key = load_key(wif, key_file)
    _write(ecies_decrypt(_read(file), key, sender_id=sender_id))


@click.group()
def envelope() -> None:
    """Build or check signed message envelopes (protocol v1)."""


@envelope.command("build")
@wif_option
@key_file_option
@click.option("--to", "receiver", required=True, help="Receiver FLO ID.")
@click.option("--app", default="", help="Application name.")
@click.option("--type", "type_", default="message", show_default=True)
@click.option("--comment")
@click.argument("file", type=click.File("rb"), required=False)
def envelope_build(
    wif: str | None,
    key_file: str | None,
    receiver: str,
    app: str,
    type_: str,
    comment: str | None,
    file: BinaryIO | None,
) -> None:
    """Sign the JSON payload in FILE (or stdin) into an envelope printed as JSON."""
    key = load_key(wif, key_file)
    try:
        payload = orjson.loads(_read(file))
    except orjson.JSONDecodeError:
        raise BadFormat("the payload is not valid JSON") from None
    env = build_envelope(
        key,
        receiver=receiver,
        payload=payload,
        time_ms=int(time.time() * 1000),
        application=app,
        type=type_,
        comment=comment,
    )
    click.echo(env.to_json().decode())


@envelope.command("check")
@click.option("--skew-ms", type=int, default=None, help="Also check the time (default: skip).")
@click.argument("file", type=click.File("rb"), required=False)
def envelope_check(skew_ms: int | None, file: BinaryIO | None) -> None:
    """Validate an envelope from FILE (or stdin); prints its id and body."""
    now = int(time.time() * 1000) if skew_ms is not None else None
    limits = Limits(max_skew_ms=skew_ms) if skew_ms is not None else Limits()
    env = parse_envelope(_read(file), now_ms=now, limits=limits)
    click.echo(orjson.dumps({"id": env.id, "body": env.body.to_dict()}).decode())
