"""Command line of the catalog service: serve, migrate."""

from __future__ import annotations

import sys

from services.catalog.config import CatalogSettings
from services.catalog.models import SCHEMA
from services.catalog.server import serve
from services.kit.cli import run_service_command


def main(argv: list[str] | None = None) -> int:
    return run_service_command("services.catalog", SCHEMA, CatalogSettings, serve, argv)


if __name__ == "__main__":
    sys.exit(main())
