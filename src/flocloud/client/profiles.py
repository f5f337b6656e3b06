"""Where a client finds the network: presets, the config file's profiles, the devnet.

Invariants owned here:
- The network source is resolved in one order, the same for every command: explicit
  arguments, then ``$FLOCLOUD_EXPLORER``/``$FLOCLOUD_REGISTRY``, then the profile named by
  ``--profile``/``$FLOCLOUD_PROFILE``, then a local devnet (``.devnet/devnet.json`` in the
  working directory, or ``$FLOCLOUD_DEVNET_DIR``), then the config file's default profile.
- A profile comes from ``config.toml`` in the config directory (``[profiles.NAME]`` with
  ``network``, ``explorer`` (one URL or a list), ``explorer_kind``, ``registry``, or
  ``preset = "mainnet"|"testnet"``) or is one of the built-in presets. An unknown profile,
  or an unknown key in a profile, is a ``bad-format`` error, never ignored.
- A source read from a devnet remembers its state directory, so a failure to reach it can
  say "the devnet is not running" instead of blaming the explorer.

# cli: the chain helper (branch ``chain``) is adding registry/explorer presets in
# ``flocloud.chain``; ``PRESETS`` below is the one place to reconcile with them.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flocloud.protocol.errors import BadFormat, NotFound

__all__ = [
    "PRESETS",
    "ChainSource",
    "config_dir",
    "config_file_path",
    "devnet_dir",
    "find_chain_source",
    "load_profiles",
]

# The FLO cloud registry already in use on mainnet (RanchiMall's SuperNodeStorage ID) and
# the public Blockbook explorers RanchiMall runs. No public testnet registry is known:
# a testnet profile names its own ``registry``.
PRESETS: dict[str, dict[str, Any]] = {
    "mainnet": {
        "network": "mainnet",
        "explorer": ["https://blockbook.ranchimall.net"],
        "explorer_kind": "blockbook",
        "registry": "FNaN9McoBAEFUjkRmNQRYLmBF8SpS7Tgfk",
    },
    "testnet": {
        "network": "testnet",
        "explorer": ["https://blockbook-testnet.ranchimall.net"],
        "explorer_kind": "blockbook",
        "registry": "",
    },
}

_PROFILE_KEYS = {"network", "explorer", "explorer_kind", "registry", "preset"}


def config_dir() -> Path:
    explicit = os.environ.get("FLOCLOUD_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "flocloud"


def config_file_path() -> Path:
    return config_dir() / "config.toml"


def devnet_dir() -> Path:
    return Path(os.environ.get("FLOCLOUD_DEVNET_DIR", ".devnet"))


@dataclass(frozen=True, slots=True)
class ChainSource:
    """Where to read the registry from."""

    explorer: str
    registry: str
    kind: str = "blockbook"
    network: str = "regtest"
    explorers: tuple[str, ...] = ()
    origin: str = "arguments"  # arguments | environment | profile NAME | devnet
    devnet: Path | None = field(default=None)  # the devnet state directory, if from one

    @property
    def all_explorers(self) -> tuple[str, ...]:
        return self.explorers or (self.explorer,)


def load_profiles(path: Path | None = None) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """The config file's default profile name and its profiles (presets included)."""
    path = path or config_file_path()
    profiles: dict[str, dict[str, Any]] = {k: dict(v) for k, v in PRESETS.items()}
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return None, profiles
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadFormat(f"cannot read {path}: {exc}") from None
    unknown = set(doc) - {"profile", "profiles"}
    if unknown:
        raise BadFormat(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}")
    for name, prof in (doc.get("profiles") or {}).items():
        if not isinstance(prof, dict):
            raise BadFormat(f"{path}: [profiles.{name}] must be a table")
        bad = set(prof) - _PROFILE_KEYS
        if bad:
            raise BadFormat(
                f"{path}: unknown key(s) in [profiles.{name}]: {', '.join(sorted(bad))}"
            )
        base: dict[str, Any] = {}
        if "preset" in prof:
            if prof["preset"] not in PRESETS:
                raise BadFormat(f"{path}: [profiles.{name}] preset must be mainnet or testnet")
            base = dict(PRESETS[prof["preset"]])
        profiles[name] = {**base, **{k: v for k, v in prof.items() if k != "preset"}}
    default = doc.get("profile")
    if default is not None and (not isinstance(default, str) or default not in profiles):
        raise BadFormat(f"{path}: profile = {default!r} names no profile")
    return default, profiles


def _from_profile(name: str, prof: dict[str, Any]) -> tuple[list[str], str, str, str]:
    exp = prof.get("explorer") or []
    explorers = [exp] if isinstance(exp, str) else [str(e) for e in exp]
    return (
        explorers,
        str(prof.get("registry") or ""),
        str(prof.get("explorer_kind") or "blockbook"),
        str(prof.get("network") or "regtest"),
    )


def read_devnet(state_dir: Path) -> dict[str, Any] | None:
    state_file = state_dir / "devnet.json"
    try:
        doc: dict[str, Any] = json.loads(state_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise BadFormat(f"{state_file} is not valid JSON") from None
    return doc


def find_chain_source(
    explorer: str | None = None,
    registry: str | None = None,
    kind: str | None = None,
    network: str | None = None,
    profile: str | None = None,
) -> ChainSource:
    """The network source, resolved in the order of the module docstring."""
    env = os.environ
    explorers: list[str] = [explorer] if explorer else []
    origin = "arguments"
    if not explorers and env.get("FLOCLOUD_EXPLORER"):
        explorers = [e for e in env["FLOCLOUD_EXPLORER"].split(",") if e]
        origin = "environment"
    registry = registry or env.get("FLOCLOUD_REGISTRY")
    kind = kind or env.get("FLOCLOUD_EXPLORER_KIND")
    network = network or env.get("FLOCLOUD_NETWORK")
    profile = profile or env.get("FLOCLOUD_PROFILE")
    devnet: Path | None = None

    def fill(name: str, prof: dict[str, Any]) -> None:
        nonlocal explorers, registry, kind, network, origin
        p_exp, p_reg, p_kind, p_net = _from_profile(name, prof)
        if not explorers:
            explorers, origin = p_exp, f"profile {name}"
        registry = registry or p_reg
        kind = kind or p_kind
        network = network or p_net

    if not (explorers and registry):
        default, profiles = load_profiles()
        if profile is not None:
            if profile not in profiles:
                raise BadFormat(
                    f"no profile {profile!r}: known are {', '.join(sorted(profiles))} "
                    f"(profiles live in {config_file_path()})"
                )
            fill(profile, profiles[profile])
        else:
            state_dir = devnet_dir()
            state = read_devnet(state_dir)
            if state is not None:
                devnet = state_dir
                if not explorers:
                    url = state.get("explorer") or state.get("chain", {}).get("url")
                    explorers, origin = ([str(url)] if url else []), "devnet"
                registry = registry or state.get("registry") or state.get("registry_id")
                network = network or state.get("network")
            elif default is not None:
                fill(default, profiles[default])
    if not explorers:
        raise NotFound(
            "no network configured: pass --explorer and --registry, use --profile mainnet, "
            f"set a default profile in {config_file_path()}, or start a local devnet in "
            "this directory with ./scripts/devnet-up"
        )
    if not registry:
        raise NotFound(
            f"no registry FLO ID for {explorers[0]}: pass --registry or set registry in the profile"
        )
    return ChainSource(
        explorers[0],
        str(registry),
        kind or "blockbook",
        network or "regtest",
        tuple(explorers),
        origin,
        devnet,
    )
