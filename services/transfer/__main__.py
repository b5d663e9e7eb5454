"""Command line of the transfer service: serve, migrate."""

from __future__ import annotations

import sys

from services.kit.cli import run_service_command
from services.transfer.config import TransferSettings
from services.transfer.models import SCHEMA
from services.transfer.server import serve


def main(argv: list[str] | None = None) -> int:
    return run_service_command("services.transfer", SCHEMA, TransferSettings, serve, argv)


if __name__ == "__main__":
    sys.exit(main())
