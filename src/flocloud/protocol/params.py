"""FLO network parameters (flo-chain.md §1), as values passed around.

Invariant: there is no global "current network"; every function that depends on the
network takes a ``Network``. Decoders accept every version byte listed for a network
(both P2SH versions, both mainnet WIF prefixes); encoders emit the first one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAINNET", "NETWORKS", "REGTEST", "TESTNET", "Network", "network_by_name"]


@dataclass(frozen=True, slots=True)
class Network:
    """Constants of one FLO network."""

    name: str
    p2pkh: int
    p2sh: tuple[int, ...]  # first = what Flo Core emits (SCRIPT_ADDRESS2), then the legacy one
    wif: tuple[int, ...]  # first = what we emit
    bip32_pub: int
    bip32_prv: int
    p2p_port: int
    rpc_port: int
    magic: bytes
    genesis_hash: str
    slip44: int

    @property
    def is_mainnet(self) -> bool:
        return self.name == "mainnet"


MAINNET = Network(
    name="mainnet",
    p2pkh=0x23,
    p2sh=(0x5E, 0x08),
    wif=(0xA3, 0xB0),
    bip32_pub=0x0134406B,
    bip32_prv=0x01343C31,
    p2p_port=7312,
    rpc_port=7313,
    magic=bytes.fromhex("fdc0a5f1"),
    genesis_hash="09c7781c9df90708e278c35d38ea5c9041d7ecfcdd1c56ba67274b7cff3e1cea",
    slip44=216,
)

TESTNET = Network(
    name="testnet",
    p2pkh=0x73,
    p2sh=(0x3A, 0xC6),
    wif=(0xEF,),
    bip32_pub=0x013440E2,
    bip32_prv=0x01343C23,
    p2p_port=17312,
    rpc_port=17313,
    magic=bytes.fromhex("fdc05af2"),
    genesis_hash="9b7bc86236c34b5e3a39367c036b7fe8807a966c22a7a1f0da2a198a27e03731",
    slip44=1,
)

REGTEST = Network(
    name="regtest",
    p2pkh=0x73,
    p2sh=(0x3A, 0xC6),
    wif=(0xEF,),
    bip32_pub=0x043587CF,
    bip32_prv=0x04358394,
    p2p_port=17412,
    rpc_port=17413,
    magic=bytes.fromhex("fabfb5da"),
    genesis_hash="ec42fa26ca6dcb1103b59a1d24b161935ea4566f8d5736db8917d5b9a8dee0d7",
    slip44=1,
)

NETWORKS: dict[str, Network] = {n.name: n for n in (MAINNET, TESTNET, REGTEST)}


def network_by_name(name: str) -> Network:
    """``mainnet``, ``testnet`` or ``regtest`` (also ``main``/``test``)."""
    alias = {"main": "mainnet", "test": "testnet"}.get(name, name)
    try:
        return NETWORKS[alias]
    except KeyError:
        raise ValueError(f"unknown network {name!r}: use mainnet, testnet or regtest") from None
