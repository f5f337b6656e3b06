"""The ``flocloud`` command: a click group; each area registers its commands here.

Invariant: commands are thin. Bad input ends with a one-line ``error: ...`` on stderr and
the documented exit code of its kind (``flocloud.cli.output.EXIT_CODES``), never a
traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from flocloud import __version__
from flocloud.protocol.errors import FlocloudError

from .output import exit_code


class FlocloudGroup(click.Group):
    """A group that turns flocloud errors into one-line messages."""

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


def _register() -> None:
    # Each area adds one import + add_command line here.
    from flocloud.cli import (
        chain_cmds,
        config_cmds,
        crypto_cmds,
        devchain_cmds,
        devnet_cmds,
        id_cmds,
        node_cmds,
        sdk_cmds,
        tx_cmds,
    )

    cli.add_command(id_cmds.id_group)
    cli.add_command(tx_cmds.tx_group)
    cli.add_command(chain_cmds.chain_group)
    cli.add_command(devchain_cmds.devchain_group)
    cli.add_command(node_cmds.node_group)
    cli.add_command(devnet_cmds.devnet_group)
    cli.add_command(config_cmds.config_group)
    for command in sdk_cmds.COMMANDS:
        cli.add_command(command)
    for command in crypto_cmds.COMMANDS:
        cli.add_command(command)


_register()


def main() -> None:
    cli()
