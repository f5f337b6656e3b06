"""The ``flocloud`` command imports a command's module only when that command is used
(``flocloud.cli.main.COMMANDS``), and a supernode's start imports no module it needs only
later (JSON Schema, Prometheus, the client SDK and its encryption): a restarted node
answers sooner."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest

from flocloud.cli.main import COMMANDS, cli


def test_every_lazy_command_resolves_to_its_name() -> None:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name, name
    assert set(COMMANDS) <= set(cli.list_commands(ctx))


def test_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "flocloud.cli", "--help"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    listed = {line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(COMMANDS) | {"completion"}


PROBE = """
import sys
from flocloud.cli.main import cli
import flocloud.node.server
cli.get_command(None, "node")
print(" ".join(sorted(sys.modules)))
"""


def test_a_node_start_imports_only_what_it_runs() -> None:
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
    )
    assert "flocloud.cli.node_cmds" in loaded
    for later in ("flocloud.cli.chain_cmds", "flocloud.cli.sdk_cmds", "flocloud.cli.devnet_cmds",
                  "flocloud.cli.tx_cmds", "jsonschema", "prometheus_client",
                  "flocloud.client.client", "flocloud.protocol.encryption",
                  "cryptography"):  # fmt: skip
        assert later not in loaded, later


def test_the_sdk_names_load_on_first_use() -> None:
    """``flocloud.client``'s names (PEP 562): each one its module's own object."""
    import flocloud.client as sdk

    assert sorted(sdk.__all__) == sorted(sdk._WHERE)
    for name in sdk.__all__:
        module = importlib.import_module(f"flocloud.client.{sdk._WHERE[name]}")
        assert getattr(sdk, name) is getattr(module, name), name
    with pytest.raises(AttributeError):
        _ = sdk.NoSuchName
