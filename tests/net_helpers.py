"""Multi-process test networks: start one per module, always stop it."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flocloud.client.connection import NodeConnection
from flocloud.devnet import Network
from flocloud.devnet.control import stop_started_elsewhere
from flocloud.devnet.network import NodeProcess


def running_network(
    base: Path, network: type[Network] = Network, **kwargs: Any
) -> Iterator[Network]:
    """Start a ``network`` (stopping whatever started if that fails), yield it, stop it."""
    net = network(base, **kwargs)
    stop_started_elsewhere(net)
    try:
        asyncio.run(net.start())
    except BaseException:
        net.stop()
        raise
    yield net
    codes = net.stop()
    assert set(codes.values()) <= {0, None, -9}, codes


async def authenticated_link(
    session: aiohttp.ClientSession, me: NodeProcess, them: NodeProcess, nonce: str = "33" * 32
) -> NodeConnection:
    """A replication link to ``them``, authenticated with ``me``'s supernode key."""
    from flocloud.protocol.peering import sign_transcript, transcript

    conn = NodeConnection(them.ws_url, session, timeout=5)
    await conn.connect()
    hello = await conn.request("peer.hello", node_id=me.id, nonce=nonce)
    digest = transcript("client", me.id, them.id, nonce, hello["nonce"])
    await conn.request("peer.auth", sign=sign_transcript(me.key, digest), store_id="test")
    return conn


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
