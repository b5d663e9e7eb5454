"""What the rollout tests do as a node would: wait for its assignment, report progress and results."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.scheduler import dispatch
from services.scheduler.rollout import RolloutLoop
from tests.support.scheduler import Fleet, SchedulerStack, eventually
from tests.support.users import grpc_auth


async def create(client, token: str, package_id: str, target: inv_pb.Target, **strategy) -> pb.Deployment:
    request = pb.CreateDeploymentRequest(
        package_id=package_id, action=pb.ACTION_INSTALL, target=target, strategy=pb.Strategy(**strategy)
    )
    return (await client.CreateDeployment(request, metadata=grpc_auth(token), timeout=10)).deployment


async def assignment(scheduler: SchedulerStack, node: str, deployment_id: str) -> dispatch.AssignmentRow:
    """The node's assignment of the deployment, once the rollout has made it."""

    async def probe() -> dispatch.AssignmentRow | None:
        work = await dispatch.work_for_node(scheduler.process.db, node)
        return next((row for row in work.assignments if row.deployment_id == deployment_id), None)

    return await eventually(probe, what=f"an assignment for {node}")


async def assigned_nodes(scheduler: SchedulerStack, nodes: list[str], deployment_id: str) -> set[str]:
    found = set()
    for node in nodes:
        work = await dispatch.work_for_node(scheduler.process.db, node)
        if any(row.deployment_id == deployment_id for row in work.assignments):
            found.add(node)
    return found


async def finish(
    scheduler: SchedulerStack,
    node: str,
    row: dispatch.AssignmentRow,
    state: int = agent_pb.TASK_STATE_SUCCEEDED,
    version: str = "",
    message: str = "",
) -> dispatch.ResultOutcome:
    db = scheduler.process.db
    await dispatch.record_progress(
        db,
        None,
        node,
        agent_pb.TaskProgress(
            assignment_id=row.assignment_id,
            attempt=row.attempt,
            state=agent_pb.TASK_STATE_DOWNLOADING,
            percent=50,
            log_lines=["downloading"],
        ),
    )
    result = agent_pb.TaskResult(
        assignment_id=row.assignment_id,
        attempt=row.attempt,
        state=state,
        installed_version=version or (row.version if state == agent_pb.TASK_STATE_SUCCEEDED else ""),
        message=message,
    )
    return await dispatch.record_result(db, None, node, result)


async def deployment(client, token: str, deployment_id: str) -> pb.Deployment:
    reply = await client.GetDeployment(
        pb.GetDeploymentRequest(id=deployment_id), metadata=grpc_auth(token), timeout=10
    )
    return reply.deployment


async def deployment_state(client, token: str, deployment_id: str, state: int) -> pb.Deployment:
    async def probe() -> pb.Deployment | None:
        current = await deployment(client, token, deployment_id)
        return current if current.state == state else None

    return await eventually(probe, what=f"deployment {deployment_id} in state {state}")


async def nodes_in_a_group(fleet: Fleet, count: int) -> tuple[list[str], str]:
    """`count` deb x86_64 servers and a group holding them."""
    nodes = [
        await fleet.server("deb", "x86_64", hostname=f"n{i}-{uuid.uuid4().hex[:6]}") for i in range(count)
    ]
    return nodes, await fleet.group(*nodes)


def loop_at(scheduler: SchedulerStack, clock: Callable[[], datetime]) -> RolloutLoop:
    """A rollout pass as a process whose clock says what `clock` returns."""
    return RolloutLoop(scheduler.process.db, scheduler.settings, owner="test", clock=clock)
