"""Where the CLI and SDK keep the user's key, and where they find the network.

Invariants owned here:
- The key file is JSON ``{"wif": "..."}`` at ``key_file_path()`` (``$FLOCLOUD_CONFIG_DIR``,
  else ``$XDG_CONFIG_HOME/flocloud``, else ``~/.config/flocloud``), written with mode 0600
  and never printed.
- The network source is, in order: explicit arguments, ``$FLOCLOUD_EXPLORER`` +
  ``$FLOCLOUD_REGISTRY``, then the state file of a local devnet (``.devnet/devnet.json``
  in the working directory, or ``$FLOCLOUD_DEVNET_DIR``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from flocloud.protocol.errors import BadFormat, InvalidKey, NotFound
from flocloud.protocol.keys import PrivateKey

__all__ = [
    "ChainSource",
    "config_dir",
    "find_chain_source",
    "key_file_path",
    "load_key",
    "save_key",
]


def config_dir() -> Path:
    explicit = os.environ.get("FLOCLOUD_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "flocloud"


def key_file_path() -> Path:
    return config_dir() / "key.json"


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically: a fresh file is written and
    renamed over the old one, so a replaced file never keeps a wider mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)  # whatever the umask
        fh.write(text)
    os.replace(tmp, path)


def save_key(key: PrivateKey, path: Path | None = None) -> Path:
    """Write the key file (mode 0600, created atomically); returns its path."""
    path = path or key_file_path()
    write_secret(path, json.dumps({"wif": key.to_wif(), "floID": key.address}))
    return path


def load_key(wif: str | None = None, key_file: str | Path | None = None) -> PrivateKey:
    """The key from ``wif``, else from ``key_file``, else from the default key file."""
    if wif:
        return PrivateKey.from_wif(wif)
    path = Path(key_file) if key_file else key_file_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(
            f"no key file at {path}: create one with `flocloud id new --save` or pass --wif"
        ) from None
    except (OSError, ValueError) as exc:
        raise BadFormat(f"cannot read key file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("wif"), str):
        raise InvalidKey(f"key file {path} has no wif")
    return PrivateKey.from_wif(data["wif"])


@dataclass(frozen=True, slots=True)
class ChainSource:
    """Where to read the registry from."""

    explorer: str
    registry: str
    kind: str = "blockbook"
    network: str = "regtest"


def find_chain_source(
    explorer: str | None = None,
    registry: str | None = None,
    kind: str | None = None,
    network: str | None = None,
) -> ChainSource:
    explorer = explorer or os.environ.get("FLOCLOUD_EXPLORER")
    registry = registry or os.environ.get("FLOCLOUD_REGISTRY")
    kind = kind or os.environ.get("FLOCLOUD_EXPLORER_KIND")
    network = network or os.environ.get("FLOCLOUD_NETWORK")
    if not (explorer and registry):
        state_dir = Path(os.environ.get("FLOCLOUD_DEVNET_DIR", ".devnet"))
        state_file = state_dir / "devnet.json"
        if state_file.exists():
            try:
                state = json.loads(state_file.read_text())
            except ValueError:
                raise BadFormat(f"{state_file} is not valid JSON") from None
            explorer = explorer or state.get("explorer") or state.get("chain", {}).get("url")
            registry = registry or state.get("registry") or state.get("registry_id")
            network = network or state.get("network")
    if not (explorer and registry):
        raise NotFound(
            "no network configured: pass --explorer and --registry, set FLOCLOUD_EXPLORER and "
            "FLOCLOUD_REGISTRY, or run `flocloud devnet up` in this directory"
        )
    return ChainSource(str(explorer), str(registry), kind or "blockbook", network or "regtest")
