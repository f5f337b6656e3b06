"""Where the CLI and SDK keep the user's key, and where they find the network.

Invariants owned here:
- The key file is JSON ``{"wif": "..."}`` at ``key_file_path()`` (``$FLOCLOUD_CONFIG_DIR``,
  else ``$XDG_CONFIG_HOME/flocloud``, else ``~/.config/flocloud``), written with mode 0600
  and never printed.
- Reading public data needs no key: ``load_key(..., required=False)`` returns a fresh
  throw-away key when the user has none (it signs nothing that is stored).
- Where the network is found: ``flocloud.client.profiles`` (re-exported here).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flocloud.protocol.errors import BadFormat, InvalidKey, NotFound
from flocloud.protocol.keys import PrivateKey

from .profiles import ChainSource, config_dir, find_chain_source

__all__ = [
    "ChainSource",
    "config_dir",
    "find_chain_source",
    "key_file_path",
    "load_key",
    "save_key",
]


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


def load_key(
    wif: str | None = None,
    key_file: str | Path | None = None,
    *,
    required: bool = True,
    network: str = "regtest",
) -> PrivateKey:
    """The key from ``wif``, else from ``key_file``, else from the default key file.

    With ``required=False`` and no key anywhere, a fresh throw-away key of ``network``.
    """
    if wif:
        return PrivateKey.from_wif(wif)
    path = Path(key_file) if key_file else key_file_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if not required and not key_file:
            from flocloud.protocol.params import network_by_name

            return PrivateKey(os.urandom(32), network_by_name(network))
        raise NotFound(
            f"no key file at {path}: create one with `flocloud id new --save` or pass --wif"
        ) from None
    except (OSError, ValueError) as exc:
        raise BadFormat(f"cannot read key file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("wif"), str):
        raise InvalidKey(f"key file {path} has no wif")
    return PrivateKey.from_wif(data["wif"])
