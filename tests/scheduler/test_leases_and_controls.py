"""Leases a live node keeps, results after the rollout gave up, retry and approval of some nodes, one
operation per node, cancelled and budget-paused deployments that finish, and a broken deployment that
does not stall the others."""

import uuid
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import col, select

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.scheduler import dispatch
from services.scheduler.models import Deployment, Target
from services.scheduler.rollout import RolloutLoop
from tests.scheduler.rollout_helpers import (
    assigned_nodes,
    assignment,
    create,
    deployment,
    deployment_state,
    finish,
    loop_at,
    nodes_in_a_group,
)
from tests.support.scheduler import Fleet, SchedulerStack, eventually
from tests.support.users import Users, grpc_auth


def _loop_at(scheduler: SchedulerStack, when) -> RolloutLoop:
    """A rollout pass as a process whose clock says `when`."""
    return loop_at(scheduler, lambda: when)


async def _target(scheduler: SchedulerStack, deployment_id: str, node: str) -> Target:
    async with scheduler.process.db.transaction() as session:
        statement = select(Target).where(
            col(Target.deployment_id) == uuid.UUID(deployment_id),
            col(Target.server_id) == uuid.UUID(node),
            col(Target.current),
        )
        return (await session.exec(statement)).one()


async def test_a_node_that_is_alive_keeps_its_lease_up_to_the_install_grace(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 2)
    package = await fleet.package(f"slow-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group), batch_size=1)
    row = await assignment(scheduler, nodes[0], created.id)
    assert row.deadline is not None
    lease = timedelta(seconds=scheduler.settings.lease_seconds)
    grace = timedelta(seconds=scheduler.settings.install_grace_seconds)

    # A slow install: the deadline passes while the node, connected, still sends heartbeats.
    await dispatch.touch(scheduler.process.db, nodes[0], now=row.deadline + lease - timedelta(seconds=1))
    await _loop_at(scheduler, row.deadline + lease + timedelta(seconds=1)).tick()
    target = await _target(scheduler, created.id, nodes[0])
    assert (target.state, target.attempt) == ("assigned", 1)
    assert await assigned_nodes(scheduler, nodes, created.id) == {nodes[0]}  # batch_size 1: no second node

    # Alive or not, the node's time ends install_grace after the deadline.
    await dispatch.touch(scheduler.process.db, nodes[0], now=row.deadline + grace + timedelta(hours=1))
    await _loop_at(scheduler, row.deadline + grace + timedelta(seconds=1)).tick()
    target = await _target(scheduler, created.id, nodes[0])
    assert (target.state, target.message) == ("failed", "no result from the node before the deadline")


async def test_a_late_result_after_the_deployment_finished_sets_its_final_state(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 1)
    package = await fleet.package(f"late-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group), max_failures=5)
    row = await assignment(scheduler, nodes[0], created.id)
    assert row.deadline is not None
    await _loop_at(scheduler, row.deadline + timedelta(days=1)).tick()
    failed = await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_FAILED)
    assert failed.counts.failed == 1

    # The node was not gone, only slow: its success arrives after the scheduler gave up.
    outcome = await finish(scheduler, nodes[0], row)
    assert (outcome.recorded, outcome.current) == (True, True)
    done = await deployment(client, users.operator, created.id)
    assert done.state == pb.DEPLOYMENT_STATE_SUCCEEDED and done.state_reason == ""
    assert (done.counts.succeeded, done.counts.failed) == (1, 0)


async def test_retrying_some_failed_nodes_of_a_paused_deployment_runs_them(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 2)
    package = await fleet.package(f"re-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group), batch_size=2)
    rows = [await assignment(scheduler, node, created.id) for node in nodes]
    for node, row in zip(nodes, rows, strict=True):
        await finish(scheduler, node, row, agent_pb.TASK_STATE_FAILED, message="broken")

    async def stopped() -> bool:
        current = await deployment(client, users.operator, created.id)
        stopped = (pb.DEPLOYMENT_STATE_PAUSED, pb.DEPLOYMENT_STATE_FAILED)
        return current.state in stopped and current.counts.failed == 2

    await eventually(stopped, what="the deployment stopped by its failures")

    auth = grpc_auth(users.operator)
    retried = await client.RetryFailed(
        pb.RetryFailedRequest(id=created.id, server_ids=[nodes[0]]), metadata=auth, timeout=10
    )
    assert retried.retried == 1
    again = await assignment(scheduler, nodes[0], created.id)  # not paused again by the other failure
    assert again.attempt == 2
    await finish(scheduler, nodes[0], again)
    final = await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_FAILED)
    assert (final.counts.succeeded, final.counts.failed) == (1, 1)


async def test_approve_all_covers_nodes_still_downloading(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 2)
    package = await fleet.package(f"apd-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(
        client, users.operator, package.id, inv_pb.Target(group_id=group), require_approval=True
    )
    rows = [await assignment(scheduler, node, created.id) for node in nodes]
    db = scheduler.process.db
    states = (agent_pb.TASK_STATE_AWAITING_APPROVAL, agent_pb.TASK_STATE_DOWNLOADING)
    for node, row, state in zip(nodes, rows, states, strict=True):
        progress = agent_pb.TaskProgress(assignment_id=row.assignment_id, attempt=1, state=state, percent=50)
        await dispatch.record_progress(db, None, node, progress)
    before = await _target(scheduler, created.id, nodes[1])

    reply = await client.ApproveDeployment(
        pb.ApproveDeploymentRequest(id=created.id), metadata=grpc_auth(users.operator), timeout=10
    )
    assert reply.approved == 2
    assert (await dispatch.work_for_node(db, nodes[0])).approvals == [(rows[0].assignment_id, 1)]
    # The one still downloading: a redelivery no longer asks it to wait, and once it is ready it is
    # told to go on. The wait for the operator does not count against its time.
    work = await dispatch.work_for_node(db, nodes[1])
    assert work.approvals == [] and not work.assignments[0].require_approval
    after = await _target(scheduler, created.id, nodes[1])
    assert after.deadline is not None and before.deadline is not None and after.deadline > before.deadline
    ready = agent_pb.TaskProgress(
        assignment_id=rows[1].assignment_id, attempt=1, state=agent_pb.TASK_STATE_AWAITING_APPROVAL
    )
    await dispatch.record_progress(db, None, nodes[1], ready)
    assert (await dispatch.work_for_node(db, nodes[1])).approvals == [(rows[1].assignment_id, 1)]


async def test_a_node_gets_one_deployment_at_a_time(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    node = await fleet.server("deb", "x86_64")
    first_package = await fleet.package(f"one-{uuid.uuid4().hex[:8]}", "1.0")
    second_package = await fleet.package(f"two-{uuid.uuid4().hex[:8]}", "1.0")
    first = await create(client, users.operator, first_package.id, inv_pb.Target(server_id=node))
    row = await assignment(scheduler, node, first.id)
    second = await create(client, users.operator, second_package.id, inv_pb.Target(server_id=node))
    await deployment_state(client, users.operator, second.id, pb.DEPLOYMENT_STATE_RUNNING)
    for _ in range(3):
        await scheduler.process.rollout.tick()
    assert await assigned_nodes(scheduler, [node], second.id) == set()
    await finish(scheduler, node, row)
    await assignment(scheduler, node, second.id)  # its turn once the first is done


async def test_a_cancelled_deployment_finishes_when_its_last_node_is_done(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 1)
    package = await fleet.package(f"cf-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group))
    row = await assignment(scheduler, nodes[0], created.id)
    reply = await client.CancelDeployment(
        pb.CancelDeploymentRequest(id=created.id), metadata=grpc_auth(users.operator), timeout=10
    )
    assert reply.deployment.state == pb.DEPLOYMENT_STATE_CANCELLED
    assert not reply.deployment.HasField("finished_at")
    # The node never confirms: its lease runs out, and the deployment is finished.
    assert row.deadline is not None
    await _loop_at(scheduler, row.deadline + timedelta(days=1)).tick()
    final = await deployment(client, users.operator, created.id)
    assert final.state == pb.DEPLOYMENT_STATE_CANCELLED and final.HasField("finished_at")
    assert final.counts.cancelled == 1


async def test_a_deployment_paused_by_its_failures_fails_once_every_node_is_done(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 2)
    package = await fleet.package(f"pf-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group), batch_size=2)
    rows = [await assignment(scheduler, node, created.id) for node in nodes]
    await finish(scheduler, nodes[0], rows[0], agent_pb.TASK_STATE_FAILED)
    await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_PAUSED)
    await finish(scheduler, nodes[1], rows[1])
    final = await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_FAILED)
    assert (final.counts.failed, final.counts.succeeded) == (1, 1) and final.HasField("finished_at")


async def test_a_deployment_that_cannot_be_advanced_does_not_stall_the_others(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    broken_node, node = await fleet.server("deb", "x86_64"), await fleet.server("deb", "x86_64")
    package = await fleet.package(f"brk-{uuid.uuid4().hex[:8]}", "1.0")
    broken = await create(client, users.operator, package.id, inv_pb.Target(server_id=broken_node))
    await deployment_state(client, users.operator, broken.id, pb.DEPLOYMENT_STATE_RUNNING)
    db = scheduler.process.db
    spoil = text(
        "UPDATE scheduler.deployments SET strategy = CAST(:strategy AS jsonb), current_batch = 1"
        " WHERE id = :id"
    )
    async with db.transaction() as session:
        await (await session.connection()).execute(
            spoil, {"strategy": '{"pause_between_batches_seconds": "soon"}', "id": broken.id}
        )
    try:
        healthy = await create(client, users.operator, package.id, inv_pb.Target(server_id=node))
        await assignment(scheduler, node, healthy.id)
    finally:
        async with db.transaction() as session:
            await (await session.connection()).execute(spoil, {"strategy": "{}", "id": broken.id})

    async def running_again() -> bool:
        async with db.transaction() as session:
            row = await session.get(Deployment, uuid.UUID(broken.id))
        return row is not None and row.strategy == {}

    await eventually(running_again, what="the broken deployment repaired")
