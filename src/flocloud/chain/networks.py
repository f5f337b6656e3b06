"""Where the real FLO cloud lives: registry IDs and public explorers, per network.

The one place these are written down (flo-cloud-legacy.md §1, RanchiMall's
``floBlockchainAPI`` and ``floCloudAPI`` defaults); the CLI and the SDK take them from
here. A preset is a starting point: ``--registry`` and ``--explorer`` override it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["KINDS", "PRESETS", "ChainPreset", "parse_explorers", "preset"]

KINDS = ("blockbook", "blockbook-v1", "blockbook-v2", "flosight")


@dataclass(frozen=True, slots=True)
class ChainPreset:
    network: str
    registry: str | None  # the SuperNodeStorage ID, when there is a known one
    explorers: tuple[tuple[str, str], ...]  # (kind, base URL), tried in this order


PRESETS: dict[str, ChainPreset] = {
    "mainnet": ChainPreset(
        "mainnet",
        "FNaN9McoBAEFUjkRmNQRYLmBF8SpS7Tgfk",
        (
            ("blockbook", "https://blockbook.ranchimall.net"),
            ("flosight", "https://flosight.ranchimall.net"),
        ),
    ),
    "testnet": ChainPreset(
        "testnet",
        None,  # the existing cloud publishes no testnet registry; pass --registry
        (
            ("blockbook", "https://blockbook-testnet.ranchimall.net"),
            ("flosight", "https://flosight-testnet.ranchimall.net"),
        ),
    ),
    "regtest": ChainPreset("regtest", None, (("blockbook", "http://127.0.0.1:18080"),)),
}


def preset(network: str) -> ChainPreset:
    try:
        return PRESETS[network]
    except KeyError:
        raise ValueError(f"unknown network {network!r}: {', '.join(PRESETS)}") from None


def parse_explorers(
    values: Iterable[str], default_kind: str = "blockbook"
) -> list[tuple[str, str]]:
    """``(kind, url)`` pairs from ``URL`` or ``KIND=URL`` items (each may be a comma list)."""
    out = []
    for item in values:
        for value in item.split(","):
            value = value.strip()
            if not value:
                continue
            kind, sep, url = value.partition("=")
            if sep and kind in KINDS:
                out.append((kind, url))
            elif sep and "://" not in kind:
                raise ValueError(f"unknown explorer kind {kind!r}: {', '.join(KINDS)}")
            else:
                out.append((default_kind, value))
    return out
