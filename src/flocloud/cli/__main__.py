"""``python -m flocloud.cli`` = the ``flocloud`` command."""

from flocloud.cli.main import main

main()
