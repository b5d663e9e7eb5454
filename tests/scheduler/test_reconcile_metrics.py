"""The reconciler's metrics: passes by result and their duration, the nodes it sent a deployment to by
action, and the compliance gauge read from the database."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from services.kit.tls import open_channel
from services.scheduler.models import COMPLIANCE_STATES
from services.scheduler.reconciler import Reconciler
from services.scheduler.service import Core
from services.scheduler.upstream import CatalogClient
from tests.scheduler.test_reconciler import _name, _node, _policy
from tests.support.scheduler import Fleet, SchedulerStack, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCHEDULER_SETTINGS = {"with_reconciler": False, "reconcile_settle_seconds": 0, "stats_seconds": 0.1}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def passes() -> tuple[float, float, float]:
    """(ok, error, timed) passes so far."""
    return (
        sample("convoy_reconcile_runs_total", result="ok"),
        sample("convoy_reconcile_runs_total", result="error"),
        sample("convoy_reconcile_seconds_count"),
    )


async def test_a_pass_counts_the_nodes_it_corrects_and_the_compliance_gauge_follows(
    scheduler: SchedulerStack, fleet: Fleet
) -> None:
    name = _name()
    await fleet.package(name, "1.0")
    nodes = [await _node(fleet, "deb") for _ in range(2)]
    await _policy(scheduler, name, inv_pb.Target(group_id=await fleet.group(*nodes)))
    ok, error, timed = passes()
    installs = sample("convoy_reconcile_corrections_total", action="install")

    assert await scheduler.process.reconciler.tick() == 1  # one deployment for both nodes

    assert passes() == (ok + 1, error, timed + 1)
    assert sample("convoy_reconcile_corrections_total", action="install") == installs + 2
    expected = {state: 2.0 if state == "converging" else 0.0 for state in COMPLIANCE_STATES}
    await eventually(lambda: _compliance(expected), what="the compliance gauge to show both nodes converging")


async def _compliance(expected: dict[str, float]) -> bool:
    return {state: sample("convoy_compliance_nodes", state=state) for state in COMPLIANCE_STATES} == expected


async def test_a_pass_with_a_policy_it_could_not_check_counts_as_an_error(
    scheduler: SchedulerStack, fleet: Fleet
) -> None:
    await _policy(scheduler, _name(), inv_pb.Target(server_id=await _node(fleet, "deb")))
    process = scheduler.process
    # Catalog out of reach: the policies' packages cannot be read.
    channel = open_channel("127.0.0.1:1", scheduler.settings.tls_files())
    core = Core(process.db, process.audit, CatalogClient(channel, timeout=2), process.inventory)
    reconciler = Reconciler(core, process.creator, scheduler.settings)
    ok, error, timed = passes()
    try:
        assert await reconciler.tick() == 0
    finally:
        await channel.close()

    assert passes() == (ok, error + 1, timed + 1)
