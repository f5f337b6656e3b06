"""The ``flocloud`` command: a click group; each area registers its commands here.

Invariants:
- Commands are thin. Bad input ends with a one-line ``error: ...`` on stderr and the
  documented exit code of its kind (``flocloud.cli.output.EXIT_CODES``), never a
  traceback.
- A command's module is imported only when that command runs (or a listing of the
  commands needs its help): ``COMMANDS`` names each command's module and attribute, so
  ``flocloud node run`` imports the node and not the chain tools, the SDK commands and
  the dev chain (a restarted supernode answers sooner).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from flocloud import __version__
from flocloud.protocol.errors import FlocloudError

from .output import exit_code

# command name -> (module of flocloud.cli, attribute): imported on first use
COMMANDS: dict[str, tuple[str, str]] = {
    "id": ("id_cmds", "id_group"),
    "tx": ("tx_cmds", "tx_group"),
    "chain": ("chain_cmds", "chain_group"),
    "devchain": ("devchain_cmds", "devchain_group"),
    "node": ("node_cmds", "node_group"),
    "devnet": ("devnet_cmds", "devnet_group"),
    "config": ("config_cmds", "config_group"),
    **{n: ("sdk_cmds", n) for n in ("send", "fetch", "watch", "where", "object", "delete")},
    "export": ("sdk_cmds", "export_"),
    "import": ("sdk_cmds", "import_"),
    **{n: ("crypto_cmds", n) for n in ("sign", "verify", "encrypt", "decrypt", "envelope")},
}


class FlocloudGroup(click.Group):
    """A group that turns flocloud errors into one-line messages and imports a command's
    module when the command is first asked for (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"flocloud.cli.{module}"), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FlocloudError as exc:
            click.echo(f"error: {exc.message} [{exc.code}]", err=True)
            sys.exit(exit_code(exc))


@click.group(cls=FlocloudGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flocloud")
def cli() -> None:
    """flocloud: a decentralized cloud data store on the FLO blockchain."""


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. `eval "$(flocloud completion bash)"`."""
    from click.shell_completion import get_completion_class

    comp_cls = get_completion_class(shell)
    assert comp_cls is not None
    comp = comp_cls(cli, {}, "flocloud", "_FLOCLOUD_COMPLETE")
    click.echo(comp.source())


def main() -> None:
    cli()
