"""Out-of-band changes at the edge: an agent's InstalledReport replaces the node's installed software in
inventory, which hints the reconciler when the set changed, and every connected agent is told the software
names of the enabled sync policies (its watch list) after its Hello and whenever they change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest

from convoy.agent.v1 import agent_pb2 as agent_pb
from devstack.postgres import LocalPostgres
from services.kit.hints import RECONCILE_CHANNEL, hint_reconciler
from services.scheduler.models import EXACT, PRESENT, REPORT, Policy
from services.scheduler.notify import plain_dsn
from tests.scheduler.test_edge import (
    WAIT,
    Scheduler,
    Stream,
    connect,
    enrolled_node,
    eventually,
    installed_of,
    start_scheduler,
)
from tests.support.inventory import InventoryStack
from tests.support.stack import AuthStack
from tests.support.users import Users

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def scheduler(
    postgres: LocalPostgres, auth_stack: AuthStack, inventory: InventoryStack
) -> AsyncIterator[Scheduler]:
    async with start_scheduler(postgres, auth_stack, inventory) as stack:
        yield stack


class Hints:
    """The reconcile hints inventory sends (each service here has a database of its own; deployed, they
    share one), heard on a connection of our own."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.received: asyncio.Queue[str] = asyncio.Queue()

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self.received.put_nowait(payload)

    async def since_last(self) -> list[str]:
        """The hints committed since the previous call: PostgreSQL delivers notifications in commit order,
        so whatever arrives before a marker sent now was sent before it."""
        marker = f"marker:{uuid.uuid4()}"
        await self.connection.execute("SELECT pg_notify($1, $2)", RECONCILE_CHANNEL, marker)
        heard: list[str] = []
        while (payload := await asyncio.wait_for(self.received.get(), WAIT)) != marker:
            heard.append(payload)
        return heard


@pytest.fixture
async def hints(inventory: InventoryStack) -> AsyncIterator[Hints]:
    connection = await asyncpg.connect(plain_dsn(inventory.database_url))
    heard = Hints(connection)
    await connection.add_listener(RECONCILE_CHANNEL, heard._heard)
    try:
        yield heard
    finally:
        await connection.close()


def software(name: str, version: str, fmt: int = agent_pb.FORMAT_RPM) -> agent_pb.InstalledSoftware:
    return agent_pb.InstalledSoftware(name=name, version=version, format=fmt)


async def add_policy(scheduler: Scheduler, software_name: str, *, enabled: bool = True) -> Policy:
    """A policy row as the policy API writes it, with its hint (nobody else needs it to exist)."""
    now = datetime.now(UTC)
    policy = Policy(
        name=f"policy-{uuid.uuid4().hex[:12]}",
        target_kind="server_id",
        target_value=str(uuid.uuid4()),
        software_name=software_name,
        version_mode=EXACT,
        exact_version="1.0",
        desired_state=PRESENT,
        mode=REPORT,
        enabled=enabled,
        created_by="user:test",
        created_at=now,
        updated_at=now,
    )
    async with scheduler.db.transaction() as session:
        session.add(policy)
        await session.flush()
        await hint_reconciler(session, f"policy:{policy.id}")
    return policy


async def change_policy(scheduler: Scheduler, policy: Policy, **values: object) -> None:
    async with scheduler.db.transaction() as session:
        row = await session.get(Policy, policy.id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        await hint_reconciler(session, f"policy:{policy.id}")


async def delete_policies(scheduler: Scheduler, policies: list[Policy]) -> None:
    async with scheduler.db.transaction() as session:
        for policy in policies:
            row = await session.get(Policy, policy.id)
            if row is not None:
                await session.delete(row)
        await hint_reconciler(session, "policy:deleted")


async def next_watch(stream: Stream) -> list[str]:
    """The next Watch on the stream (nothing else is expected before it)."""
    message = await stream.receive()
    assert message.WhichOneof("message") == "watch", message
    return list(message.watch.software_names)


async def test_an_installed_report_replaces_the_installed_software_and_a_change_hints_the_reconciler(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack, hints: Hints
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    hint = f"node:{node.node_id}"

    async def installed_is(expected: dict[str, str]) -> None:
        async def check() -> bool:
            return await installed_of(inventory, node.node_id) == expected

        await eventually(check, f"inventory to record {expected}")

    async with connect(scheduler, node) as stream:
        await stream.hello(node, [software("redis", "7.0.1")])
        await installed_is({"redis": "7.0.1"})
        assert hint in await hints.since_last(), "a new node came online with software"

        # Handled in order: the unchanged report is recorded before the changed one, and sends no hint.
        await stream.send(installed=agent_pb.InstalledReport(installed=[software("redis", "7.0.1")]))
        report = agent_pb.InstalledReport(installed=[software("redis", "7.0.2"), software("nginx", "1.24")])
        await stream.send(installed=report)
        await installed_is({"redis": "7.0.2", "nginx": "1.24"})
        assert (await hints.since_last()).count(hint) == 1

        await stream.send(installed=agent_pb.InstalledReport())  # removed by hand, all of it
        await installed_is({})
        assert hint in await hints.since_last()


async def test_an_installed_report_before_hello_is_refused(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    async with connect(scheduler, node) as stream:
        await stream.send(installed=agent_pb.InstalledReport(installed=[software("redis", "7.0.1")]))
        code, _ = await stream.closed_with()

    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_watch_list_follows_hello_and_changes_of_the_enabled_policies(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    suffix = uuid.uuid4().hex[:8]
    web, cache, extra, old = (f"{word}-{suffix}" for word in ("web", "cache", "extra", "old"))
    policies = [
        await add_policy(scheduler, web),
        await add_policy(scheduler, web),
        await add_policy(scheduler, cache),
        await add_policy(scheduler, old, enabled=False),
    ]
    node = await enrolled_node(scheduler, auth_stack, users)

    async def read() -> bool:
        return scheduler.edge.streams.watch.names == tuple(sorted([web, cache]))

    await eventually(read, "the edge to read the policies")  # else a first Watch may name fewer of them
    try:
        async with connect(scheduler, node) as stream:
            await stream.hello(node)
            assert await next_watch(stream) == sorted([web, cache])

            policies.append(await add_policy(scheduler, extra))
            assert await next_watch(stream) == sorted([web, cache, extra])

            # A change that leaves the names as they are sends nothing; the next message is the next change.
            await change_policy(scheduler, policies[2], exact_version="2.0")
            await change_policy(scheduler, policies[0], enabled=False)
            await change_policy(scheduler, policies[3], enabled=True)
            assert await next_watch(stream) == sorted([web, cache, extra, old])

            await delete_policies(scheduler, policies)
            assert await next_watch(stream) == []
    finally:
        await delete_policies(scheduler, policies)
