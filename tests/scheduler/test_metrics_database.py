"""The scheduler's metrics against its database: what a transaction counts waits for its commit (a rolled
back one counted nothing), and the gauges' counts by state read indexes, not whole tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from devstack.postgres import LocalPostgres
from services.kit.db import Database
from services.scheduler.events import Changes
from services.scheduler.metrics import STATS_STATEMENTS, corrected
from services.scheduler.models import SCHEMA, Target
from tests.support.stack import fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Enough rows that reading them all costs the planner more than an index does.
DEPLOYMENTS, NODES = 2_000, 20
TABLES = "scheduler.deployments, scheduler.targets, scheduler.compliance"


class RolledBack(Exception):
    pass


@pytest.fixture(scope="module")
async def db(postgres: LocalPostgres) -> AsyncIterator[Database]:
    url = await fresh_database(postgres, "scheduler_metrics", migrations=(("services.scheduler", SCHEMA),))
    database = Database(url, pool_size=2)
    try:
        yield database
    finally:
        await database.close()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def finished_target() -> Target:
    return Target(
        deployment_id=uuid.uuid4(),
        server_id=uuid.uuid4(),
        state="failed",
        action="install",
        name="app",
        format="deb",
        updated_at=datetime.now(UTC),
    )


async def test_a_target_finished_in_a_rolled_back_transaction_is_not_counted(db: Database) -> None:
    before = sample("convoy_targets_finished_total", state="failed")

    with pytest.raises(RolledBack):
        async with db.transaction() as session:
            changes = Changes(datetime.now(UTC))
            changes.target(finished_target())
            await changes.flush(session)
            raise RolledBack
    assert sample("convoy_targets_finished_total", state="failed") == before

    async with db.transaction() as session:
        changes = Changes(datetime.now(UTC))
        changes.target(finished_target())
        await changes.flush(session)
        assert sample("convoy_targets_finished_total", state="failed") == before  # not yet committed
    assert sample("convoy_targets_finished_total", state="failed") == before + 1


async def test_a_correction_in_a_rolled_back_transaction_is_not_counted(db: Database) -> None:
    before = sample("convoy_reconcile_corrections_total", action="uninstall")

    with pytest.raises(RolledBack):
        async with db.transaction() as session:
            corrected(session, "uninstall", 3)
            raise RolledBack
    async with db.transaction() as session:
        corrected(session, "uninstall", 2)

    assert sample("convoy_reconcile_corrections_total", action="uninstall") == before + 2


async def test_the_counts_by_state_do_not_read_whole_tables(db: Database) -> None:
    await _fill(db)
    plans = {}
    async with db.engine.connect() as connection:
        for name, statement in STATS_STATEMENTS.items():
            rows = await connection.execute(text(f"EXPLAIN {statement}"))
            plans[name] = "\n".join(row[0] for row in rows)

    assert not any("Seq Scan" in plan for plan in plans.values()), "\n".join(plans.values())


async def _fill(db: Database) -> None:
    """DEPLOYMENTS deployments of NODES targets each (three attempts, the last current), and one policy over
    DEPLOYMENTS * NODES nodes; rows as wide as real ones (a target list, messages)."""
    statements = [
        "INSERT INTO scheduler.deployments (id, software_name, format, action, target_kind, target_value,"
        " batch_size, failure_budget, state, created_by, created_at, updated_at)"
        " SELECT gen_random_uuid(), 'app', 'deb', 'install', 'servers', repeat('x', 300), 1, 0,"
        " (ARRAY['succeeded', 'failed', 'cancelled'])[1 + n % 3], 'tests', now(), now()"
        " FROM generate_series(1, CAST(:deployments AS integer)) AS n",
        "INSERT INTO scheduler.targets (deployment_id, server_id, attempt, current, state, action, name,"
        " format, message, updated_at, batch)"
        " SELECT d.id, gen_random_uuid(), a, a = 3, (ARRAY['succeeded', 'failed'])[1 + n % 2], 'install',"
        " 'app', 'deb', repeat('m', 100), now(), 1"
        " FROM scheduler.deployments d, generate_series(1, CAST(:nodes AS integer)) AS n,"
        " generate_series(1, 3) AS a",
        "INSERT INTO scheduler.policies (id, name, target_kind, software_name, version_mode, desired_state,"
        " enabled, mode, created_by, created_at, updated_at)"
        " VALUES (gen_random_uuid(), 'metrics-' || gen_random_uuid(), 'group', 'app', 'latest', 'present',"
        " true, 'enforce', 'tests', now(), now())",
        "INSERT INTO scheduler.compliance (policy_id, server_id, state, message, checked_at, changed_at)"
        " SELECT p.id, gen_random_uuid(), 'compliant', repeat('m', 100), now(), now()"
        " FROM scheduler.policies p, generate_series(1, CAST(:compliance AS integer))",
    ]
    values = {"deployments": DEPLOYMENTS, "nodes": NODES, "compliance": DEPLOYMENTS * NODES}
    async with db.transaction() as session:
        connection = await session.connection()
        # The test server commits asynchronously, and VACUUM marks no page all-visible before the commit
        # is on disk.
        await connection.execute(text("SET LOCAL synchronous_commit = on"))
        for statement in statements:
            await connection.execute(text(statement), values)
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        # Index-only scans need the visibility map, which VACUUM (autovacuum, in production) keeps.
        # VACUUM first, ANALYZE after: an ANALYZE between them keeps the next VACUUM from marking pages.
        await autocommit.execute(text(f"VACUUM {TABLES}"))
        await autocommit.execute(text(f"ANALYZE {TABLES}"))
