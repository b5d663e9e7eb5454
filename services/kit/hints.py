"""Hints between services through the shared PostgreSQL: a NOTIFY sent inside the transaction that made a
change, delivered on commit, telling whoever listens that something may need another look.

A hint carries no data and may be lost (a listener reconnecting, a process down): listeners also work on a
timer, so a lost hint only delays them. The sync-policy reconciler of the scheduler listens to
RECONCILE_CHANNEL; catalog (a new package: a `latest` policy may want it) and inventory (members, labels,
servers: the nodes a policy covers) send to it.
"""

from __future__ import annotations

from sqlalchemy import text

from services.kit.db import AsyncSession

__all__ = ["RECONCILE_CHANNEL", "hint_reconciler"]

# Payload: "" (anything), "policy:<id>", "node:<id>", "software:<name>" or "group:<id>".
RECONCILE_CHANNEL = "convoy_reconcile"


async def hint_reconciler(session: AsyncSession, hint: str = "") -> None:
    """Queues the hint; PostgreSQL sends it when (and only if) the transaction commits."""
    connection = await session.connection()
    await connection.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": RECONCILE_CHANNEL, "payload": hint[:200]}
    )
