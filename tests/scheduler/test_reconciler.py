"""The sync-policy reconciler against a real scheduler, inventory and catalog, driven pass by pass with its
own clock: desired versions per node, deployments for drifted nodes only, backoff after failures,
report mode, absent, and no second deployment while one is under way."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from convoy.scheduler.v1 import scheduler_pb2 as pb
from devstack.postgres import LocalPostgres
from services.scheduler.models import Compliance, Deployment, Policy
from services.scheduler.reconciler import Reconciler, backoff
from tests.scheduler.rollout_helpers import assigned_nodes, assignment, create, finish
from tests.scheduler.rollout_helpers import deployment as get_deployment
from tests.support.catalog import CatalogStack
from tests.support.inventory import InventoryStack
from tests.support.scheduler import Fleet, SchedulerStack, eventually, start_scheduler
from tests.support.stack import AuthStack
from tests.support.users import grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")


# The tests drive the reconciler pass by pass with their own clock.
SCHEDULER_SETTINGS = {
    "with_reconciler": False,
    "reconcile_backoff_seconds": 60,
    "reconcile_backoff_max_seconds": 600,
    "reconcile_max_attempts": 3,
    "reconcile_settle_seconds": 0,
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reconciler(scheduler: SchedulerStack, clock: Clock) -> Reconciler:
    process = scheduler.process
    return Reconciler(process.core, process.creator, scheduler.settings, clock=clock)


async def _node(fleet: Fleet, family: str = "deb", **fields: object) -> str:
    """A server whose agent is connected (online), with the facts it reported."""
    server_id = await fleet.server(family, **fields)  # type: ignore[arg-type]
    await _set_status(fleet, server_id, inv_pb.SERVER_STATUS_ONLINE)
    return server_id


async def _set_status(fleet: Fleet, server_id: str, status: int) -> None:
    async with fleet.inventory.channel("scheduler") as channel:
        request = inv_pb.SetServerStatusRequest(server_id=server_id, status=status)
        request.time.GetCurrentTime()
        await inv_grpc.InventoryServiceStub(channel).SetServerStatus(request, timeout=10)


def _name() -> str:
    return f"app{uuid.uuid4().hex[:8]}"


async def _policy(scheduler: SchedulerStack, software: str, target: inv_pb.Target, **fields) -> Policy:
    kind = target.WhichOneof("target")
    now = datetime.now(UTC)
    values = {
        "name": f"p-{uuid.uuid4().hex[:8]}",
        "target_kind": kind,
        "target_value": "" if kind == "all" else str(getattr(target, kind)),
        "software_name": software,
        "version_mode": "latest",
        "desired_state": "present",
        "strategy": {},
        "mode": "enforce",
        "created_by": "alice",
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    async with scheduler.process.db.transaction() as session:
        policy = Policy(**values)
        session.add(policy)
    return policy


async def _rows(scheduler: SchedulerStack, policy: Policy) -> dict[str, Compliance]:
    async with scheduler.process.db.transaction() as session:
        statement = select(Compliance).where(col(Compliance.policy_id) == policy.id)
        return {str(row.server_id): row for row in await session.exec(statement)}


async def _deployments(scheduler: SchedulerStack, policy: Policy) -> list[Deployment]:
    async with scheduler.process.db.transaction() as session:
        statement = (
            select(Deployment)
            .where(col(Deployment.policy_id) == policy.id)
            .order_by(col(Deployment.created_at))
        )
        return list(await session.exec(statement))


async def _succeed(scheduler: SchedulerStack, fleet: Fleet, node: str, deployment_id: str, name: str) -> None:
    """The node installs the assignment, and inventory learns the version (as the agent edge does)."""
    row = await assignment(scheduler, node, deployment_id)
    await finish(scheduler, node, row, version=row.version)
    await fleet.installed(node, name, row.version)


async def test_latest_policy_installs_the_newest_fitting_package_on_each_node_then_complies(
    scheduler: SchedulerStack, fleet: Fleet, reconciler: Reconciler, clock: Clock
) -> None:
    name = _name()
    await fleet.package(name, "1.0")
    newest_deb = await fleet.package(name, "1.1")
    await fleet.package(name, "1.1", format="rpm", release="1")
    debs = [await _node(fleet, "deb") for _ in range(2)]
    rpm_node = await _node(fleet, "rpm")
    aarch = await _node(fleet, "deb", arch="aarch64")
    group = await fleet.group(*debs, rpm_node, aarch)
    policy = await _policy(scheduler, name, inv_pb.Target(group_id=group))

    assert await reconciler.tick() == 2  # one deployment per package: the deb build, the rpm build
    deployments = await _deployments(scheduler, policy)
    assert {(d.format, d.version, d.origin, d.created_by) for d in deployments} == {
        ("deb", "1.1", "policy", f"policy:{policy.id}"),
        ("rpm", "1.1", "policy", f"policy:{policy.id}"),
    }
    rows = await _rows(scheduler, policy)
    assert {node: rows[node].state for node in (*debs, rpm_node)} == dict.fromkeys(
        (*debs, rpm_node), "converging"
    )
    assert rows[aarch].state == "incompatible" and "aarch64" in rows[aarch].message
    assert rows[debs[0]].desired_version == "1.1" and rows[rpm_node].desired_version == "1.1-1"

    # A second pass while they converge creates nothing more.
    assert await reconciler.tick() == 0

    by_format = {d.format: str(d.id) for d in deployments}
    for node in debs:
        await _succeed(scheduler, fleet, node, by_format["deb"], name)
    row = await assignment(scheduler, rpm_node, by_format["rpm"])
    await finish(scheduler, rpm_node, row, version="1.1-1")
    await fleet.installed(rpm_node, name, "1.1-1")

    assert await reconciler.tick() == 0
    rows = await _rows(scheduler, policy)
    assert {node: rows[node].state for node in (*debs, rpm_node)} == dict.fromkeys(
        (*debs, rpm_node), "compliant"
    )
    assert rows[debs[0]].installed_version == newest_deb.version

    # A newer version arrives: the nodes drift and an update goes out without anyone asking.
    await fleet.package(name, "1.2")
    assert await reconciler.tick() == 1
    update = (await _deployments(scheduler, policy))[-1]
    assert (update.version, update.action) == ("1.2", "update")
    assert (await _rows(scheduler, policy))[rpm_node].state == "compliant"


async def test_report_mode_shows_drift_and_changes_nothing(
    scheduler: SchedulerStack, fleet: Fleet, reconciler: Reconciler
) -> None:
    name = _name()
    await fleet.package(name, "2.0")
    node = await _node(fleet, "deb")
    await fleet.installed(node, name, "1.0")
    policy = await _policy(scheduler, name, inv_pb.Target(server_id=node), mode="report")

    assert await reconciler.tick() == 0
    row = (await _rows(scheduler, policy))[node]
    assert (row.state, row.installed_version, row.desired_version) == ("drifted", "1.0", "2.0")
    assert "1.0 is installed; the policy wants 2.0" in row.message
    assert await _deployments(scheduler, policy) == []


async def test_an_exact_version_older_than_the_installed_one_goes_back_with_a_rollback(
    scheduler: SchedulerStack, fleet: Fleet, reconciler: Reconciler
) -> None:
    name = _name()
    await fleet.package(name, "1.0")
    await fleet.package(name, "2.0")
    node = await _node(fleet, "deb")
    await fleet.installed(node, name, "2.0")
    policy = await _policy(
        scheduler, name, inv_pb.Target(server_id=node), version_mode="exact", exact_version="1.0"
    )

    assert await reconciler.tick() == 1
    (deployment,) = await _deployments(scheduler, policy)
    assert (deployment.action, deployment.version) == ("rollback", "1.0")


async def test_absent_policy_removes_the_software_where_it_is_installed(
    scheduler: SchedulerStack, fleet: Fleet, reconciler: Reconciler
) -> None:
    name = _name()
    with_it, without = await _node(fleet, "deb"), await _node(fleet, "rpm")
    await fleet.installed(with_it, name, "3.0")
    group = await fleet.group(with_it, without)
    policy = await _policy(scheduler, name, inv_pb.Target(group_id=group), desired_state="absent")

    assert await reconciler.tick() == 1
    (deployment,) = await _deployments(scheduler, policy)
    assert (deployment.action, deployment.format) == ("uninstall", "deb")
    rows = await _rows(scheduler, policy)
    assert (rows[with_it].state, rows[without].state) == ("converging", "compliant")


async def test_a_node_busy_with_another_deployment_of_the_software_gets_no_second_one(
    scheduler: SchedulerStack, fleet: Fleet, reconciler: Reconciler, client, users
) -> None:
    name = _name()
    package = await fleet.package(name, "1.0")
    node = await _node(fleet, "deb")
    manual = await create(client, users.operator, package.id, inv_pb.Target(server_id=node))
    policy = await _policy(scheduler, name, inv_pb.Target(server_id=node))

    assert await reconciler.tick() == 0
    row = (await _rows(scheduler, policy))[node]
    assert row.state == "converging" and manual.id in row.message and str(row.deployment_id) == manual.id


async def test_failures_back_off_exponentially_then_give_up_while_the_rest_converges(
    scheduler: SchedulerStack, fleet: Fleet, reconciler: Reconciler, clock: Clock
) -> None:
    name = _name()
    await fleet.package(name, "1.0")
    good, bad = await _node(fleet, "deb"), await _node(fleet, "deb")
    group = await fleet.group(good, bad)
    policy = await _policy(scheduler, name, inv_pb.Target(group_id=group), strategy={"max_failures": 5})

    attempts = 0
    for expected_wait in (60, 120):
        assert await reconciler.tick() == 1
        deployment = str((await _deployments(scheduler, policy))[-1].id)
        attempts += 1
        row = await assignment(scheduler, bad, deployment)
        await finish(scheduler, bad, row, state=agent_pb.TASK_STATE_FAILED, message="postinst exited with 1")
        if attempts == 1:
            await _succeed(scheduler, fleet, good, deployment, name)
        assert await reconciler.tick() == 0
        rows = await _rows(scheduler, policy)
        assert rows[good].state == "compliant"
        failed = rows[bad]
        assert (failed.state, failed.failed_attempts) == ("failed", attempts)
        assert "postinst exited with 1" in failed.message
        assert failed.retry_at == clock.now + timedelta(seconds=expected_wait)
        # Not before the backoff is over.
        clock.advance(expected_wait - 1)
        assert await reconciler.tick() == 0
        clock.advance(1)

    assert await reconciler.tick() == 1
    row = await assignment(scheduler, bad, str((await _deployments(scheduler, policy))[-1].id))
    await finish(scheduler, bad, row, state=agent_pb.TASK_STATE_FAILED, message="still broken")
    clock.advance(3600)
    assert await reconciler.tick() == 0
    failed = (await _rows(scheduler, policy))[bad]
    assert (failed.state, failed.failed_attempts, failed.retry_at) == ("failed", 3, None)
    assert "gave up after 3 failed attempt(s)" in failed.message
    assert len(await _deployments(scheduler, policy)) == 3

    # Changing the policy (a new generation) gives the node another chance.
    async with scheduler.process.db.transaction() as session:
        stored = await session.get(Policy, policy.id)
        stored.generation += 1
    assert await reconciler.tick() == 1


async def test_two_schedulers_reconciling_at_once_create_one_deployment(
    postgres: LocalPostgres,
    auth_stack: AuthStack,
    inventory: InventoryStack,
    catalog: CatalogStack,
    scheduler: SchedulerStack,
    fleet: Fleet,
    clock: Clock,
) -> None:
    name = _name()
    await fleet.package(name, "1.0")
    nodes = [await _node(fleet, "deb") for _ in range(3)]
    group = await fleet.group(*nodes)
    policies = [await _policy(scheduler, name, inv_pb.Target(group_id=group)) for _ in range(2)]
    async with start_scheduler(
        postgres,
        auth_stack,
        database_url=scheduler.database_url,
        inventory_target=inventory.target,
        catalog_target=catalog.target,
        with_reconciler=False,
    ) as other:
        first = Reconciler(scheduler.process.core, scheduler.process.creator, scheduler.settings, clock=clock)
        second = Reconciler(other.process.core, other.process.creator, other.settings, clock=clock)
        for _ in range(3):
            await asyncio.gather(first.tick(), second.tick())
    made = [d for policy in policies for d in await _deployments(scheduler, policy)]
    assert len(made) == 1  # two policies wanting the same, two processes: one deployment for the nodes


async def test_backoff_doubles_up_to_the_ceiling() -> None:
    assert [backoff(n, 30, 200).total_seconds() for n in (1, 2, 3, 4, 5)] == [30, 60, 120, 200, 200]


async def test_the_loop_wakes_when_a_backoff_ends_without_waiting_for_its_timer(
    scheduler: SchedulerStack, fleet: Fleet
) -> None:
    name = _name()
    await fleet.package(name, "1.0")
    node = await _node(fleet, "deb")
    policy = await _policy(scheduler, name, inv_pb.Target(server_id=node))
    settings = scheduler.settings.model_copy(
        update={"reconcile_seconds": 3600, "reconcile_debounce_seconds": 0, "reconcile_backoff_seconds": 0.5}
    )
    process = scheduler.process
    loop = Reconciler(process.core, process.creator, settings)
    running = asyncio.create_task(loop.run())
    try:
        loop.hint()
        first = await eventually(lambda: _deployments(scheduler, policy), what="the first deployment")
        row = await assignment(scheduler, node, str(first[0].id))
        await finish(scheduler, node, row, state=agent_pb.TASK_STATE_FAILED, message="broken")
        loop.hint()  # the failure is counted; nothing but the end of its backoff wakes the loop again

        async def retried() -> list[Deployment] | None:
            made = await _deployments(scheduler, policy)
            return made if len(made) == 2 else None

        await eventually(retried, what="a second attempt once the backoff ended")
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_paused_policy_deployment_says_so_and_a_cancel_is_no_failed_attempt(
    scheduler: SchedulerStack, fleet: Fleet, reconciler: Reconciler, client, users
) -> None:
    name = _name()
    package = await fleet.package(name, "1.0")
    nodes = [await _node(fleet) for _ in range(3)]
    group = await fleet.group(*nodes)
    policy = await _policy(scheduler, name, inv_pb.Target(group_id=group), strategy={"batch_size": 1})

    assert await reconciler.tick() == 1
    (deployment,) = await _deployments(scheduler, policy)

    async def assigned() -> set[str]:
        return await assigned_nodes(scheduler, nodes, str(deployment.id))

    (first,) = await eventually(assigned, what="the first batch assigned")
    row = await assignment(scheduler, first, str(deployment.id))
    await finish(scheduler, first, row, state=agent_pb.TASK_STATE_FAILED, message="broken")

    async def paused() -> pb.Deployment | None:
        found = await get_deployment(client, users.operator, str(deployment.id))
        return found if found.state == pb.DEPLOYMENT_STATE_PAUSED else None

    await eventually(paused, what="the policy's deployment paused by its failure budget")
    assert await reconciler.tick() == 0
    rows = await _rows(scheduler, policy)
    waiting = [rows[node] for node in nodes if node != first]
    assert all(
        r.state == "converging" and "is paused" in r.message and "resume or cancel" in r.message
        for r in waiting
    )
    assert rows[first].state == "failed"
    held = await fleet.get_package(package.id)
    assert f"scheduler.policy:{policy.id}" in held.referenced_by

    cancel = pb.CancelDeploymentRequest(id=str(deployment.id), reason="try again later")
    await client.CancelDeployment(cancel, metadata=grpc_auth(users.operator), timeout=10)
    # The two nodes never got it: no failed attempt for them, they get the next deployment at once.
    assert await reconciler.tick() == 1
    rows = await _rows(scheduler, policy)
    assert all(rows[node].failed_attempts == 0 for node in nodes if node != first)
    assert rows[first].failed_attempts == 1


async def test_an_offline_node_is_shown_drifted_and_corrected_once_it_connects(
    scheduler: SchedulerStack, fleet: Fleet, reconciler: Reconciler
) -> None:
    name = _name()
    await fleet.package(name, "1.0")
    node = await _node(fleet)
    await _set_status(fleet, node, inv_pb.SERVER_STATUS_OFFLINE)
    policy = await _policy(scheduler, name, inv_pb.Target(server_id=node))

    assert await reconciler.tick() == 0
    row = (await _rows(scheduler, policy))[node]
    assert row.state == "drifted" and "not connected" in row.message
    await _set_status(fleet, node, inv_pb.SERVER_STATUS_ONLINE)
    assert await reconciler.tick() == 1


async def test_policies_that_come_to_contradict_each_other_on_a_node_leave_it_alone(
    scheduler: SchedulerStack, fleet: Fleet, reconciler: Reconciler
) -> None:
    name = _name()
    await fleet.package(name, "1.0")
    await fleet.package(name, "2.0")
    shared, only_first = await _node(fleet), await _node(fleet)
    # Written directly: the API refuses this overlap, but a node can join the second group later.
    wants_latest = await _policy(
        scheduler, name, inv_pb.Target(group_id=await fleet.group(shared, only_first))
    )
    pinned = await _policy(
        scheduler, name, inv_pb.Target(server_id=shared), version_mode="exact", exact_version="1.0"
    )

    assert await reconciler.tick() == 1  # only the node the first policy alone covers
    for policy, other in ((wants_latest, pinned), (pinned, wants_latest)):
        row = (await _rows(scheduler, policy))[shared]
        assert row.state == "failed" and other.name in row.message, row.message
    (deployment,) = await _deployments(scheduler, wants_latest)
    assert await assigned_nodes(scheduler, [shared, only_first], str(deployment.id)) <= {only_first}
    assert await _deployments(scheduler, pinned) == []


async def test_after_a_policy_change_nodes_that_reported_nothing_get_time_to_report(
    scheduler: SchedulerStack, fleet: Fleet, clock: Clock
) -> None:
    name = _name()
    await fleet.package(name, "1.0")
    node = await _node(fleet)
    policy = await _policy(scheduler, name, inv_pb.Target(server_id=node), updated_at=clock.now)
    settings = scheduler.settings.model_copy(update={"reconcile_settle_seconds": 10})
    process = scheduler.process
    reconciler = Reconciler(process.core, process.creator, settings, clock=clock)

    assert await reconciler.tick() == 0
    row = (await _rows(scheduler, policy))[node]
    assert row.state == "converging" and "report" in row.message
    clock.advance(10)
    assert await reconciler.tick() == 1
