"""WatchDeployment: replay from a sequence number in order, then live; per-node logs bounded."""

import asyncio
import uuid

from sqlalchemy import func
from sqlmodel import select

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.scheduler import dispatch
from services.scheduler.logs import LogLimits
from services.scheduler.models import Event
from tests.scheduler.rollout_helpers import assignment, create, deployment_state, finish
from tests.support.scheduler import Fleet, SchedulerStack
from tests.support.users import Users, grpc_auth


async def _events(
    client, token: str, deployment_id: str, since: int, until_state: int
) -> list[pb.DeploymentEvent]:
    events = []
    call = client.WatchDeployment(
        pb.WatchDeploymentRequest(deployment_id=deployment_id, since_sequence=since),
        metadata=grpc_auth(token),
    )
    async with asyncio.timeout(15):
        async for event in call:
            events.append(event)
            if event.WhichOneof("change") == "deployment" and event.deployment.state == until_state:
                break
    call.cancel()
    return events


async def test_watch_replays_every_change_in_order_then_follows(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes = [await fleet.server("deb", "x86_64", hostname=f"w{i}-{uuid.uuid4().hex[:6]}") for i in range(2)]
    group = await fleet.group(*nodes)
    package = await fleet.package(f"watch-{uuid.uuid4().hex[:8]}", "1.0")
    # Some event must precede ours to watch from (since_sequence 0 means "only new ones").
    await create(client, users.operator, package.id, inv_pb.Target(server_id=await fleet.server("rpm")))
    async with scheduler.process.db.transaction() as session:
        before = (await session.exec(select(func.coalesce(func.max(Event.sequence), 0)))).one()
    created = await create(client, users.operator, package.id, inv_pb.Target(group_id=group), batch_size=1)
    await finish(scheduler, nodes[0], await assignment(scheduler, nodes[0], created.id))
    # A watcher from the start, joining while the rollout is half done: the past first, then the rest live.
    watcher = asyncio.create_task(
        _events(client, users.viewer, created.id, before, pb.DEPLOYMENT_STATE_SUCCEEDED)
    )
    await finish(scheduler, nodes[1], await assignment(scheduler, nodes[1], created.id))
    await deployment_state(client, users.viewer, created.id, pb.DEPLOYMENT_STATE_SUCCEEDED)
    events = await watcher

    sequences = [event.sequence for event in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert all(event.deployment_id == created.id for event in events)
    for node in nodes:
        states = [
            e.target.state
            for e in events
            if e.WhichOneof("change") == "target" and e.target.server_id == node
        ]
        assert states == [
            pb.TARGET_STATE_PENDING,
            pb.TARGET_STATE_ASSIGNED,
            pb.TARGET_STATE_DOWNLOADING,
            pb.TARGET_STATE_SUCCEEDED,
        ]
    deployment_states = [e.deployment.state for e in events if e.WhichOneof("change") == "deployment"]
    assert deployment_states[0] == pb.DEPLOYMENT_STATE_PENDING
    assert deployment_states[-1] == pb.DEPLOYMENT_STATE_SUCCEEDED

    # Resuming after any event gives exactly the rest.
    middle = events[len(events) // 2].sequence
    rest = await _events(client, users.viewer, created.id, middle, pb.DEPLOYMENT_STATE_SUCCEEDED)
    assert [e.sequence for e in rest] == [s for s in sequences if s > middle]


async def test_target_logs_keep_head_and_tail(client, scheduler: SchedulerStack, fleet: Fleet, users: Users):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"log-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(server_id=node))
    row = await assignment(scheduler, node, created.id)
    limits = LogLimits(head_lines=3, tail_lines=4)
    for chunk in range(5):
        lines = [f"line {chunk * 10 + i}\x00" for i in range(10)]
        progress = agent_pb.TaskProgress(
            assignment_id=row.assignment_id, attempt=1, state=agent_pb.TASK_STATE_INSTALLING, log_lines=lines
        )
        await dispatch.record_progress(scheduler.process.db, None, node, progress, limits=limits)
    reply = await client.GetTargetLog(
        pb.GetTargetLogRequest(deployment_id=created.id, server_id=node), metadata=grpc_auth(users.viewer)
    )
    assert [line.text for line in reply.lines] == [f"line {n}\ufffd" for n in (0, 1, 2, 46, 47, 48, 49)]
    assert reply.dropped_lines == 43
