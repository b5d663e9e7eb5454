"""The event log: notifications that name their deployments, node wake-ups sent in one statement outside
the events lock, throttled progress events, and retention of finished deployments' events."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import event, func, text
from sqlmodel import col, select

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.scheduler import dispatch
from services.scheduler.events import Changes, concerns, event_from_row, events_payload
from services.scheduler.models import Event
from services.scheduler.notify import plain_dsn
from services.scheduler.rollout import RolloutLoop
from services.scheduler.store import load_deployment
from tests.scheduler.rollout_helpers import assignment, create, deployment_state, finish
from tests.support.scheduler import Fleet, SchedulerStack
from tests.support.users import Users


class _Heard:
    """Notifications of some channels, from a connection of the test's own."""

    def __init__(self) -> None:
        self.payloads: dict[str, list[str]] = {}
        self.arrived = asyncio.Event()

    def __call__(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        self.payloads.setdefault(channel, []).append(payload)
        self.arrived.set()


async def _listening(scheduler: SchedulerStack, *channels: str) -> tuple[asyncpg.Connection, _Heard]:
    connection = await asyncpg.connect(plain_dsn(scheduler.database_url))
    heard = _Heard()
    for channel in channels:
        await connection.add_listener(channel, heard)
    return connection, heard


async def _until(predicate, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_the_events_notification_names_its_deployments(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"nt-{uuid.uuid4().hex[:8]}", "1.0")
    connection, heard = await _listening(scheduler, "convoy_events")
    try:
        created = await create(client, users.operator, package.id, inv_pb.Target(server_id=node))

        def named() -> bool:
            return any(p.endswith(f":{created.id}") for p in heard.payloads.get("convoy_events", []))

        await _until(named)
    finally:
        await connection.close()
    sequence = next(p for p in heard.payloads["convoy_events"] if p.endswith(created.id)).split(":")[0]
    assert int(sequence) > 0
    assert concerns(f"5:{created.id}", created.id) and not concerns(f"5:{uuid.uuid4()}", created.id)
    assert concerns("5:*", created.id) and concerns("", created.id)
    many = [str(uuid.uuid4()) for _ in range(400)]
    assert events_payload(7, many) == "7:*"
    assert events_payload(7, many[:2]) == f"7:{many[0]},{many[1]}"


async def test_node_wake_ups_go_in_one_statement_before_the_events_lock(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"nw-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(server_id=node))
    woken = sorted(str(uuid.uuid4()) for _ in range(3))
    statements: list[str] = []
    ours: list[object] = []

    def seen(conn, _cursor, statement, _params, _context, _many) -> None:
        # Only this transaction's statements: the process's rollout loop shares the engine.
        if conn in ours:
            statements.append(statement)

    connection, heard = await _listening(scheduler, "convoy_node")
    engine = scheduler.process.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with scheduler.process.db.transaction() as session:
            ours.append((await session.connection()).sync_connection)
            changes = Changes(datetime.now(UTC))
            await changes.deployment(session, await load_deployment(session, created.id))
            for node_id in woken:
                changes.node(uuid.UUID(node_id))
            statements.clear()
            await changes.flush(session)
        await _until(lambda: set(woken) <= set(heard.payloads.get("convoy_node", [])))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        await connection.close()
    notifies = [i for i, s in enumerate(statements) if "pg_notify" in s and "unnest" in s]
    lock = next(i for i, s in enumerate(statements) if "pg_advisory_xact_lock" in s)
    assert len(notifies) == 1 and notifies[0] < lock
    assert sum("pg_notify" in s for s in statements[:lock]) == 1  # no other node notification


async def _target_events(scheduler: SchedulerStack, deployment_id: str) -> list:
    async with scheduler.process.db.transaction() as session:
        statement = (
            select(Event.sequence, Event.time, Event.payload)
            .where(col(Event.deployment_id) == uuid.UUID(deployment_id))
            .order_by(col(Event.sequence))
        )
        rows = list(await session.exec(statement))
    events = [event_from_row(*row) for row in rows]
    return [e.target for e in events if e.WhichOneof("change") == "target"]


async def test_progress_events_are_throttled_but_the_row_follows(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"pr-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(server_id=node))
    row = await assignment(scheduler, node, created.id)
    db = scheduler.process.db
    reports = [
        (agent_pb.TASK_STATE_DOWNLOADING, 41),
        (agent_pb.TASK_STATE_DOWNLOADING, 42),
        (agent_pb.TASK_STATE_DOWNLOADING, 43),
        (agent_pb.TASK_STATE_DOWNLOADING, 50),
        (agent_pb.TASK_STATE_DOWNLOADING, 51),
        (agent_pb.TASK_STATE_INSTALLING, 51),
    ]
    for state, percent in reports:
        progress = agent_pb.TaskProgress(
            assignment_id=row.assignment_id, attempt=1, state=state, percent=percent
        )
        await dispatch.record_progress(db, None, node, progress)
    seen = [(t.state, t.progress_percent) for t in await _target_events(scheduler, created.id)]
    assert seen == [
        (pb.TARGET_STATE_PENDING, 0),
        (pb.TARGET_STATE_ASSIGNED, 0),
        (pb.TARGET_STATE_DOWNLOADING, 41),
        (pb.TARGET_STATE_DOWNLOADING, 50),
        (pb.TARGET_STATE_INSTALLING, 51),
    ]
    progress = agent_pb.TaskProgress(
        assignment_id=row.assignment_id, attempt=1, state=agent_pb.TASK_STATE_INSTALLING, percent=52
    )
    await dispatch.record_progress(db, None, node, progress)
    reply = await client.ListDeploymentTargets(
        pb.ListDeploymentTargetsRequest(deployment_id=created.id),
        metadata=(("authorization", f"Bearer {users.viewer}"),),
        timeout=10,
    )
    assert reply.targets[0].progress_percent == 52


async def test_events_of_long_finished_deployments_are_deleted(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"ret-{uuid.uuid4().hex[:8]}", "1.0")
    old = await create(client, users.operator, package.id, inv_pb.Target(server_id=node))
    await finish(scheduler, node, await assignment(scheduler, node, old.id))
    await deployment_state(client, users.operator, old.id, pb.DEPLOYMENT_STATE_SUCCEEDED)
    recent = await create(client, users.operator, package.id, inv_pb.Target(server_id=node))
    await finish(scheduler, node, await assignment(scheduler, node, recent.id))
    await deployment_state(client, users.operator, recent.id, pb.DEPLOYMENT_STATE_SUCCEEDED)
    db = scheduler.process.db
    days = scheduler.settings.event_retention_days
    async with db.transaction() as session:
        await (await session.connection()).execute(
            text("UPDATE scheduler.deployments SET finished_at = :when WHERE id = :id"),
            {"when": datetime.now(UTC) - timedelta(days=days + 1), "id": uuid.UUID(old.id)},
        )

    async def count(deployment_id: str) -> int:
        async with db.transaction() as session:
            statement = select(func.count()).where(col(Event.deployment_id) == uuid.UUID(deployment_id))
            return (await session.exec(statement)).one()

    assert await count(old.id) > 0
    await RolloutLoop(db, scheduler.settings, owner="test").tick()  # a fresh loop prunes on its first pass
    assert await count(old.id) == 0
    assert await count(recent.id) > 0
