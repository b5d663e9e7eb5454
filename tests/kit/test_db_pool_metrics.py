"""The database pool gauges read every live pool of the process when scraped: connections in use and idle,
and the size the pools may grow to; a closed database drops out."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import text

from devstack.postgres import LocalPostgres
from services.kit.db import Database
from tests.support.metrics import sample_value
from tests.support.stack import fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

# pool_size plus the overflow Database allows.
OVERFLOW = 10


def pool() -> tuple[float, float, float]:
    """(in use, idle, size) as a scrape shows them."""
    exposition = generate_latest(REGISTRY).decode()
    in_use = sample_value(exposition, "convoy_db_pool_connections", {"state": "in_use"})
    idle = sample_value(exposition, "convoy_db_pool_connections", {"state": "idle"})
    size = sample_value(exposition, "convoy_db_pool_size", {})
    assert in_use is not None and idle is not None and size is not None, exposition
    return in_use, idle, size


async def test_pools_are_read_at_scrape_time_and_add_up(postgres: LocalPostgres) -> None:
    url = await fresh_database(postgres, "pool", migrations=())
    first = Database(url, pool_size=3)
    in_use, idle, size = pool()  # the first Database registered the gauges if nobody had
    second = Database(url, pool_size=2)
    try:
        assert pool() == (in_use, idle, size + 2 + OVERFLOW)

        async with first.transaction() as session, second.transaction() as other:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            await other.exec(text("SELECT 1"))  # type: ignore[call-overload]
            assert pool()[0] == in_use + 2

        assert pool()[:2] == (in_use, idle + 2)  # returned to their pools, kept open
    finally:
        await second.close()
        await first.close()

    assert pool()[2] == size - 3 - OVERFLOW
