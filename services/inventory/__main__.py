"""Command line of the inventory service: serve, migrate."""

from __future__ import annotations

import sys

from services.inventory.config import InventorySettings
from services.inventory.models import SCHEMA
from services.inventory.server import serve
from services.kit.cli import run_service_command


def main(argv: list[str] | None = None) -> int:
    return run_service_command("services.inventory", SCHEMA, InventorySettings, serve, argv)


if __name__ == "__main__":
    sys.exit(main())
