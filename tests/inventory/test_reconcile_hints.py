"""Inventory hints the sync-policy reconciler about a node only when something it decides on changed: the
installed set (a name added or removed, a version changed) or the node coming online. Heard with LISTEN on a
real PostgreSQL connection to inventory's database, over real gRPC and mTLS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from services.kit.hints import RECONCILE_CHANNEL
from services.kit.timestamps import to_timestamp
from tests.support.inventory import InventoryStack
from tests.support.stack import superuser_connection

pytestmark = pytest.mark.asyncio(loop_scope="session")

WAIT = 10.0  # every wait for a notification is bounded by this many seconds
DEB, DEPLOYMENT = inv_pb.PACKAGE_FAMILY_DEB, inv_pb.INSTALLED_SOURCE_DEPLOYMENT
ONLINE, OFFLINE = inv_pb.SERVER_STATUS_ONLINE, inv_pb.SERVER_STATUS_OFFLINE

_hosts = iter(range(1, 60000))


class Hints:
    """The reconcile hints committed so far. PostgreSQL delivers notifications in commit order, so a marker
    sent after a call has returned (its transaction committed) arrives after any hint that call sent: what
    came before the marker is all the call sent, with no guessed wait for a hint that should not come."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.received: asyncio.Queue[str] = asyncio.Queue()

    def heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self.received.put_nowait(payload)

    async def since_last(self) -> list[str]:
        """The hints heard since the previous call."""
        marker = f"marker:{uuid.uuid4()}"
        await self.connection.execute("SELECT pg_notify($1, $2)", RECONCILE_CHANNEL, marker)
        heard: list[str] = []
        while (payload := await asyncio.wait_for(self.received.get(), WAIT)) != marker:
            heard.append(payload)
        return heard


@pytest.fixture
async def hints(inventory: InventoryStack) -> AsyncIterator[Hints]:
    async with superuser_connection(inventory.database_url) as connection:
        heard = Hints(connection)
        await connection.add_listener(RECONCILE_CHANNEL, heard.heard)
        yield heard


@pytest.fixture
async def scheduler(inventory: InventoryStack) -> AsyncIterator[inv_grpc.InventoryServiceStub]:
    """A service peer: the scheduler's certificate and no user token."""
    async with inventory.stub("scheduler") as stub:
        yield stub


async def new_node(scheduler: inv_grpc.InventoryServiceStub) -> str:
    server_id, n = str(uuid.uuid4()), next(_hosts)
    request = inv_pb.RecordFactsRequest(server_id=server_id, ip_address=f"172.21.{n // 250}.{n % 250 + 1}")
    await scheduler.RecordFacts(request, timeout=10)
    return server_id


def item(
    name: str, version: str, source: int = inv_pb.INSTALLED_SOURCE_AGENT_REPORT
) -> inv_pb.InstalledSoftware:
    return inv_pb.InstalledSoftware(name=name, version=version, package_family=DEB, source=source)


async def hinted(
    scheduler: inv_grpc.InventoryServiceStub,
    hints: Hints,
    server_id: str,
    software: list[inv_pb.InstalledSoftware],
    *,
    merge: bool = False,
) -> bool:
    """Records the software; whether inventory hinted the reconciler about the node."""
    request = inv_pb.RecordInstalledRequest(server_id=server_id, software=software, merge=merge)
    await scheduler.RecordInstalled(request, timeout=10)
    return f"node:{server_id}" in await hints.since_last()


async def status_hinted(
    scheduler: inv_grpc.InventoryServiceStub,
    hints: Hints,
    server_id: str,
    status: int,
    when: datetime | None = None,
    *,
    enrolled: bool = False,
) -> bool:
    request = inv_pb.SetServerStatusRequest(server_id=server_id, status=status, enrolled=enrolled)
    if when is not None:
        request.time.CopyFrom(to_timestamp(when))
    await scheduler.SetServerStatus(request, timeout=10)
    return f"node:{server_id}" in await hints.since_last()


async def test_a_full_report_hints_only_when_a_name_or_a_version_changed(
    scheduler: inv_grpc.InventoryServiceStub, hints: Hints
) -> None:
    server_id = await new_node(scheduler)
    await hints.since_last()
    full = [item("redis", "7.0"), item("nginx", "1.24")]
    assert await hinted(scheduler, hints, server_id, full), "the first set is a change"
    assert not await hinted(scheduler, hints, server_id, full), "the same set again"
    assert not await hinted(scheduler, hints, server_id, full[::-1]), "the same set in another order"
    assert not await hinted(scheduler, hints, server_id, [item("redis", "7.0", DEPLOYMENT), full[1]]), (
        "another source is no change of what is installed"
    )
    assert await hinted(scheduler, hints, server_id, [item("redis", "7.1"), full[1]]), "a version changed"
    assert await hinted(scheduler, hints, server_id, [item("redis", "7.1")]), "a name removed"
    assert await hinted(scheduler, hints, server_id, [item("redis", "7.1"), item("tool", "1")]), (
        "a name added"
    )
    assert await hinted(scheduler, hints, server_id, []), "everything removed"
    assert not await hinted(scheduler, hints, server_id, []), "still nothing"


async def test_a_merged_result_hints_only_when_a_listed_name_changed(
    scheduler: inv_grpc.InventoryServiceStub, hints: Hints
) -> None:
    server_id = await new_node(scheduler)
    await scheduler.RecordInstalled(
        inv_pb.RecordInstalledRequest(
            server_id=server_id, software=[item("redis", "7.0"), item("tool", "1")]
        ),
        timeout=10,
    )
    await hints.since_last()

    unchanged = [item("redis", "7.0", DEPLOYMENT)]
    assert not await hinted(scheduler, hints, server_id, unchanged, merge=True), "already at that version"
    absent = [item("absent", "")]
    assert not await hinted(scheduler, hints, server_id, absent, merge=True), "removing what is not there"
    updated = [item("redis", "7.1", DEPLOYMENT)]
    assert await hinted(scheduler, hints, server_id, updated, merge=True), "a new version"
    assert await hinted(scheduler, hints, server_id, [item("tool", "")], merge=True), "a removal"
    added = [item("redis", "7.1", DEPLOYMENT), item("new-app", "0.1", DEPLOYMENT)]
    assert await hinted(scheduler, hints, server_id, added, merge=True), "one new name among unchanged ones"


async def test_a_status_hints_only_when_the_node_comes_online(
    scheduler: inv_grpc.InventoryServiceStub, hints: Hints
) -> None:
    server_id = await new_node(scheduler)
    await hints.since_last()
    start = datetime.now(UTC) - timedelta(minutes=10)

    assert await status_hinted(scheduler, hints, server_id, ONLINE, start), "pending to online"
    assert not await status_hinted(scheduler, hints, server_id, ONLINE, start + timedelta(minutes=1))
    assert not await status_hinted(scheduler, hints, server_id, OFFLINE, start + timedelta(minutes=2))
    stale = start + timedelta(minutes=1, seconds=30)
    assert not await status_hinted(scheduler, hints, server_id, ONLINE, stale), (
        "older than the offline report"
    )
    assert await status_hinted(scheduler, hints, server_id, ONLINE, start + timedelta(minutes=3)), "back"

    # Enrolling again: pending, then online once its agent connects.
    pending = inv_pb.SERVER_STATUS_PENDING
    assert not await status_hinted(scheduler, hints, server_id, pending, enrolled=True)
    assert await status_hinted(scheduler, hints, server_id, ONLINE)
