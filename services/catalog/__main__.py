"""Command line of the catalog service: serve, migrate."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.catalog.config import CatalogSettings
from services.catalog.models import SCHEMA
from services.catalog.server import serve
from services.kit.migrations import migrate
from services.kit.settings import load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.catalog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server until SIGTERM/SIGINT")
    commands.add_parser("migrate", help="upgrade the catalog schema to the newest revision")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings(CatalogSettings)
    if args.command == "serve":
        asyncio.run(serve(settings))
    else:
        migrate(settings.require_database_url(), "services.catalog", SCHEMA)
        print(f"schema {SCHEMA} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
