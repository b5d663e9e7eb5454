"""The command line every service but auth has: `serve` and `migrate`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.kit.migrations import migrate
from services.kit.settings import ServiceSettings, load_settings
from services.kit.telemetry import configure_tracing

__all__ = ["run_service_command"]

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def _parser(package: str, schema: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {package}", description=f"The {schema} service.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server until SIGTERM/SIGINT")
    commands.add_parser("migrate", help=f"upgrade the {schema} schema to the newest revision")
    return parser


def run_service_command(
    package: str,
    schema: str,
    settings_type: type[SettingsT],
    serve: Callable[[SettingsT], Awaitable[None]],
    argv: list[str] | None = None,
) -> int:
    """Parses argv, loads the settings (exiting with one line per problem), and serves or migrates."""
    args = _parser(package, schema).parse_args(argv)
    settings = load_settings(settings_type)
    if args.command == "serve":
        # Before serve() builds the process: its servers, channels and engine are traced from the start.
        configure_tracing(settings.service_name)
        asyncio.run(serve(settings))
    else:
        migrate(settings.require_database_url(), package, schema)
        print(f"schema {schema} is up to date")
    return 0
