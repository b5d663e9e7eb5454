"""The servers gauge, read from the database by every inventory replica (aggregate with max, not sum)."""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy import func
from sqlmodel import col, select

from services.inventory.models import PACKAGE_FAMILIES, STATUSES, Server
from services.kit.db import Database
from services.kit.metrics import CountGauge, refresh_every

__all__ = ["SERVERS", "UNKNOWN_FAMILY", "read_server_counts", "show_server_counts", "refresh_server_stats"]

# The family of a server whose agent has not reported its facts yet.
UNKNOWN_FAMILY = "unknown"

SERVERS = Gauge("convoy_servers", "Servers known, from the database", ["status", "os_family"])
_SHOWN = CountGauge(
    SERVERS, [(status, family) for status in STATUSES for family in (*PACKAGE_FAMILIES, UNKNOWN_FAMILY)]
)


async def read_server_counts(db: Database) -> dict[tuple[str, str], int]:
    """(status, os_family) → number of servers."""
    family = func.coalesce(func.nullif(col(Server.package_family), ""), UNKNOWN_FAMILY)
    statement = select(col(Server.status), family, func.count()).group_by(col(Server.status), family)
    async with db.transaction() as session:
        rows = (await session.exec(statement)).all()
    return {(str(status), str(os_family)): int(count) for status, os_family, count in rows}


async def show_server_counts(db: Database) -> None:
    counts = await read_server_counts(db)
    # A family seen for the first time gets every status at once, so ratios across statuses answer.
    families = {family for _, family in counts}
    _SHOWN.show(counts, [(status, family) for status in STATUSES for family in families])


async def refresh_server_stats(db: Database, seconds: float) -> None:
    """Until cancelled: the servers gauge every `seconds`."""
    await refresh_every(seconds, lambda: show_server_counts(db), "the server counts")
