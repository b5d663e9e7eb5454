"""Command line of the transfer service: serve, migrate."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.kit.migrations import migrate
from services.kit.settings import load_settings
from services.transfer.config import TransferSettings
from services.transfer.models import SCHEMA
from services.transfer.server import serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.transfer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server until SIGTERM/SIGINT")
    commands.add_parser("migrate", help="upgrade the transfer schema to the newest revision")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings(TransferSettings)
    if args.command == "serve":
        asyncio.run(serve(settings))
    else:
        migrate(settings.require_database_url(), "services.transfer", SCHEMA)
        print(f"schema {SCHEMA} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
