"""Command line of the inventory service: serve, migrate."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.inventory.config import InventorySettings
from services.inventory.models import SCHEMA
from services.inventory.server import serve
from services.kit.migrations import migrate
from services.kit.settings import load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.inventory", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server until SIGTERM/SIGINT")
    commands.add_parser("migrate", help="upgrade the inventory schema to the newest revision")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings(InventorySettings)
    if args.command == "serve":
        asyncio.run(serve(settings))
    else:
        migrate(settings.require_database_url(), "services.inventory", SCHEMA)
        print(f"schema {SCHEMA} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
