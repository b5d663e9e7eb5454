"""IANA time zone names as operators give them (maintenance windows, cron schedules)."""

from __future__ import annotations

import re
import zoneinfo

from services.kit.errors import InvalidArgument

__all__ = ["check_timezone"]

# Longest IANA names are about 30 characters; anything else never reaches the zone database's file lookup
# (which answers a very long name with an operating-system error instead of "not found").
_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
_MAX_LENGTH = 64


def check_timezone(name: str, what: str) -> str:
    """The zone name, stripped, if the zone database knows it; `what` names the field in the error."""
    name = name.strip()
    if not name:
        raise InvalidArgument(f"{what} is required, e.g. 'Asia/Shanghai' or 'UTC'")
    if len(name) > _MAX_LENGTH or not _NAME.fullmatch(name):
        raise InvalidArgument(f"{what} {name[:_MAX_LENGTH]!r} is not a known IANA zone")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidArgument(f"{what} {name!r} is not a known IANA zone") from exc
    return name
