"""``python -m flocloud.node --config node.toml``: run a supernode."""

from flocloud.cli.main import cli

cli(["node", "run", *__import__("sys").argv[1:]])
