"""``python -m flocloud.cli`` = the ``flocloud`` command."""

from flocloud.cli.main import main

if __name__ == "__main__":  # not when a worker process (node/verify.py) imports it
    main()
