"""``flocloud config``: which network, profile and key the other commands would use."""

from __future__ import annotations

from typing import Any

import click

from flocloud.client.keyfile import key_file_path
from flocloud.client.profiles import config_file_path, load_profiles

from .output import Output, output_option
from .session import resolve_source, source_options


@click.group("config")
def config_group() -> None:
    """The client configuration: ~/.config/flocloud/config.toml and the key file."""


@config_group.command("show")
@source_options
@output_option
def show(
    profile: str | None,
    explorer: str | None,
    registry: str | None,
    explorer_kind: str | None,
    output: str | None,
    as_json: bool,
) -> None:
    """Where the network commands would read the registry from, and with which key file."""
    source = resolve_source(explorer, registry, explorer_kind, profile)
    doc: dict[str, Any] = {
        "origin": source.origin,
        "network": source.network,
        "explorers": list(source.all_explorers),
        "explorer_kind": source.kind,
        "registry": source.registry,
        "devnet": str(source.devnet) if source.devnet else None,
        "config_file": str(config_file_path()),
        "key_file": str(key_file_path()) if key_file_path().exists() else None,
    }
    Output(output, as_json).doc(doc)


@config_group.command("profiles")
@output_option
def profiles(output: str | None, as_json: bool) -> None:
    """The presets and the config file's profiles (* = the default)."""
    default, found = load_profiles()
    rows = [
        {
            "name": name,
            "default": name == default,
            "network": p.get("network", "regtest"),
            "explorer": p.get("explorer")
            if isinstance(p.get("explorer"), list)
            else [p.get("explorer")],
            "registry": p.get("registry", ""),
        }
        for name, p in sorted(found.items())
    ]
    Output(output, as_json, kind="list").rows(
        rows,
        [
            ("profile", lambda r: r["name"] + (" *" if r["default"] else "")),
            ("network", lambda r: r["network"]),
            ("registry", lambda r: r["registry"] or "(none)"),
            ("explorer", lambda r: ", ".join(e for e in r["explorer"] if e)),
        ],
        wide="explorer",
    )
