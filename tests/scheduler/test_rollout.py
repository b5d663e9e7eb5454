"""The rollout as nodes see it: batches, the failure budget, resume, retry, cancel, canary, approval."""

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.errors import InvalidArgument, PermissionDenied
from services.scheduler import dispatch
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
from tests.support.scheduler import Fleet, SchedulerStack
from tests.support.users import Users, grpc_auth


async def test_batches_failure_budget_resume_and_retry(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 3)
    package = await fleet.package(f"app-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group), batch_size=1)
    auth = grpc_auth(users.operator)

    first = await assignment(scheduler, nodes[0], created.id)
    assert await assigned_nodes(scheduler, nodes, created.id) == {nodes[0]}  # one at a time
    running = await deployment(client, users.operator, created.id)
    assert running.state == pb.DEPLOYMENT_STATE_RUNNING and running.current_batch == 1
    outcome = await finish(scheduler, nodes[0], first)
    assert outcome == dispatch.ResultOutcome(True, True, package.software_name, "1.0", "deb")

    second = await assignment(scheduler, nodes[1], created.id)
    assert await assigned_nodes(scheduler, nodes, created.id) == {nodes[1]}
    await finish(scheduler, nodes[1], second, agent_pb.TASK_STATE_FAILED, message="postinst failed")
    paused = await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_PAUSED)
    assert "failure budget spent" in paused.state_reason
    assert paused.counts.failed == 1 and paused.counts.pending == 1
    await scheduler.process.rollout.tick()
    assert await assigned_nodes(scheduler, nodes, created.id) == set()  # nothing new while paused

    await client.ResumeDeployment(pb.ResumeDeploymentRequest(id=created.id), metadata=auth, timeout=10)
    third = await assignment(scheduler, nodes[2], created.id)
    await finish(scheduler, nodes[2], third)
    failed = await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_FAILED)
    assert (failed.counts.succeeded, failed.counts.failed) == (2, 1)
    assert failed.HasField("finished_at")

    retried = await client.RetryFailed(pb.RetryFailedRequest(id=created.id), metadata=auth, timeout=10)
    assert retried.retried == 1
    assert retried.deployment.state == pb.DEPLOYMENT_STATE_RUNNING
    again = await assignment(scheduler, nodes[1], created.id)
    assert again.attempt == 2 and again.assignment_id != second.assignment_id

    # The first attempt's late result is kept on that attempt and changes nothing of the current one.
    late = await dispatch.record_result(
        scheduler.process.db,
        None,
        nodes[1],
        agent_pb.TaskResult(
            assignment_id=second.assignment_id,
            attempt=1,
            state=agent_pb.TASK_STATE_SUCCEEDED,
            installed_version="1.0",
        ),
    )
    assert (late.recorded, late.current) == (False, False)  # attempt 1 already had its result
    await finish(scheduler, nodes[1], again)
    done = await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_SUCCEEDED)
    assert (done.counts.succeeded, done.counts.failed, done.counts.total) == (3, 0, 3)
    attempts = await client.ListDeploymentTargets(
        pb.ListDeploymentTargetsRequest(deployment_id=created.id, attempt=1), metadata=auth, timeout=10
    )
    by_server = {t.server_id: t for t in attempts.targets}
    assert by_server[nodes[1]].state == pb.TARGET_STATE_FAILED
    assert by_server[nodes[1]].message == "postinst failed"


async def test_a_late_result_of_a_replaced_attempt_never_touches_the_current_one(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 1)
    package = await fleet.package(f"late-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group), max_failures=5)
    auth = grpc_auth(users.operator)
    first = await assignment(scheduler, nodes[0], created.id)
    # The scheduler gives up on the node (its deadline passed) and an operator retries.
    later = loop_at(scheduler, lambda: datetime.now(UTC) + timedelta(days=1))
    await later.tick()
    await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_FAILED)
    await client.RetryFailed(pb.RetryFailedRequest(id=created.id), metadata=auth, timeout=10)
    second = await assignment(scheduler, nodes[0], created.id)
    assert second.attempt == 2

    # Then the first attempt's result arrives: recorded on attempt 1, attempt 2 stays as it was.
    late = await finish(scheduler, nodes[0], first, agent_pb.TASK_STATE_FAILED, message="too late")
    assert (late.recorded, late.current) == (True, False)
    current = await client.ListDeploymentTargets(
        pb.ListDeploymentTargetsRequest(deployment_id=created.id), metadata=auth, timeout=10
    )
    assert [(t.attempt, t.state) for t in current.targets] == [(2, pb.TARGET_STATE_ASSIGNED)]
    old = await client.ListDeploymentTargets(
        pb.ListDeploymentTargetsRequest(deployment_id=created.id, attempt=1), metadata=auth, timeout=10
    )
    assert [(t.state, t.message) for t in old.targets] == [(pb.TARGET_STATE_FAILED, "too late")]
    assert (await deployment(client, users.operator, created.id)).state == pb.DEPLOYMENT_STATE_RUNNING


async def test_cancel_stops_pending_at_once_and_tells_working_nodes(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 3)
    package = await fleet.package(f"cx-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group), batch_size=2)
    rows = [await assignment(scheduler, node, created.id) for node in nodes[:2]]
    reply = await client.CancelDeployment(
        pb.CancelDeploymentRequest(id=created.id, reason="wrong package"),
        metadata=grpc_auth(users.operator),
        timeout=10,
    )
    assert reply.deployment.state == pb.DEPLOYMENT_STATE_CANCELLED
    assert reply.deployment.state_reason == "wrong package"
    assert reply.deployment.counts.cancelled == 1 and reply.deployment.counts.assigned == 2
    for node, row in zip(nodes[:2], rows, strict=True):
        work = await dispatch.work_for_node(scheduler.process.db, node)
        assert (row.assignment_id, 1) in work.cancels
    await finish(scheduler, nodes[0], rows[0], agent_pb.TASK_STATE_CANCELLED)
    await finish(scheduler, nodes[1], rows[1])  # too late to stop: it finished
    final = await deployment(client, users.operator, created.id)
    assert (final.counts.cancelled, final.counts.succeeded) == (2, 1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.ResumeDeployment(
            pb.ResumeDeploymentRequest(id=created.id), metadata=grpc_auth(users.operator)
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_canary_pauses_after_the_first_batch(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 2)
    package = await fleet.package(f"can-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(
        client, users.operator, package.id, inv_pb.Target(group_id=group), batch_size=1, canary=True
    )
    await finish(scheduler, nodes[0], await assignment(scheduler, nodes[0], created.id))
    paused = await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_PAUSED)
    assert paused.state_reason.startswith("canary batch done")
    await client.ResumeDeployment(
        pb.ResumeDeploymentRequest(id=created.id), metadata=grpc_auth(users.operator)
    )
    await finish(scheduler, nodes[1], await assignment(scheduler, nodes[1], created.id))
    await deployment_state(client, users.operator, created.id, pb.DEPLOYMENT_STATE_SUCCEEDED)


async def test_approval_is_required_then_given(client, scheduler: SchedulerStack, fleet: Fleet, users: Users):
    nodes, group = await nodes_in_a_group(fleet, 2)
    package = await fleet.package(f"ap-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(
        client, users.operator, package.id, inv_pb.Target(group_id=group), require_approval=True
    )
    rows = [await assignment(scheduler, node, created.id) for node in nodes]
    assert all(row.require_approval for row in rows)
    for node, row in zip(nodes, rows, strict=True):
        progress = agent_pb.TaskProgress(
            assignment_id=row.assignment_id,
            attempt=1,
            state=agent_pb.TASK_STATE_AWAITING_APPROVAL,
            percent=100,
        )
        await dispatch.record_progress(scheduler.process.db, None, node, progress)
    reply = await client.ApproveDeployment(
        pb.ApproveDeploymentRequest(id=created.id, server_ids=[nodes[0]]), metadata=grpc_auth(users.operator)
    )
    assert reply.approved == 1 and reply.deployment.counts.awaiting_approval == 2
    work = [await dispatch.work_for_node(scheduler.process.db, node) for node in nodes]
    assert work[0].approvals == [(rows[0].assignment_id, 1)] and work[1].approvals == []
    reply = await client.ApproveDeployment(
        pb.ApproveDeploymentRequest(id=created.id), metadata=grpc_auth(users.operator)
    )
    assert reply.approved == 1


async def test_a_node_cannot_report_on_another_nodes_assignment(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 2)
    package = await fleet.package(f"own-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group))
    row = await assignment(scheduler, nodes[0], created.id)
    result = agent_pb.TaskResult(
        assignment_id=row.assignment_id, attempt=1, state=agent_pb.TASK_STATE_SUCCEEDED
    )
    with pytest.raises(PermissionDenied):
        await dispatch.record_result(scheduler.process.db, None, nodes[1], result)
    with pytest.raises(PermissionDenied):
        await dispatch.record_result(scheduler.process.db, None, str(uuid.uuid4()), result)
    with pytest.raises(InvalidArgument):
        bad = agent_pb.TaskResult(
            assignment_id=row.assignment_id, attempt=1, state=agent_pb.TASK_STATE_DOWNLOADING
        )
        await dispatch.record_result(scheduler.process.db, None, nodes[0], bad)
    # The owner's result is recorded once; a repeat after a reconnect changes nothing.
    assert (await dispatch.record_result(scheduler.process.db, None, nodes[0], result)).recorded
    assert not (await dispatch.record_result(scheduler.process.db, None, nodes[0], result)).recorded


async def test_the_assignment_carries_the_package_facts(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes, group = await nodes_in_a_group(fleet, 1)
    package = await fleet.package(f"facts-{uuid.uuid4().hex[:8]}", "3.1")
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group))
    row = await assignment(scheduler, nodes[0], created.id)
    message = dispatch.assignment_message(row)
    assert message.package.sha256 == package.artifact_sha256 and message.package.size == package.artifact_size
    assert message.package.format == agent_pb.FORMAT_DEB and message.action == agent_pb.ACTION_INSTALL
    assert message.deadline.ToDatetime(tzinfo=UTC) > datetime.now(UTC)
