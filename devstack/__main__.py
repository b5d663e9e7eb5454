"""Command line of the dev stack: `python -m devstack up`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from devstack.launcher import up


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description="Run Convoy on this machine.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up",
        help="start PostgreSQL and every service, print the URL and admin password; Ctrl-C stops everything",
    )
    parser.parse_args(argv)
    return up()


if __name__ == "__main__":
    sys.exit(main())
