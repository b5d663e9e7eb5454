"""Command line of the scheduler service: serve, migrate."""

from __future__ import annotations

import sys

from services.kit.cli import run_service_command
from services.scheduler.config import SchedulerSettings
from services.scheduler.models import SCHEMA
from services.scheduler.server import serve


def main(argv: list[str] | None = None) -> int:
    return run_service_command("services.scheduler", SCHEMA, SchedulerSettings, serve, argv)


if __name__ == "__main__":
    sys.exit(main())
