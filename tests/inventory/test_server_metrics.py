"""The servers gauge follows the database: by status and the package family the agent reported, every
status of a known family at zero from the start, and a series whose servers are all gone back at zero."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from convoy.inventory.v1 import inventory_pb2 as pb
from convoy.inventory.v1 import inventory_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from tests.support.inventory import InventoryStack, start_inventory
from tests.support.scheduler import eventually
from tests.support.stack import AuthStack, fresh_ip
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

STATUSES = ("pending", "online", "offline", "revoked")
FAMILIES = ("deb", "rpm", "unknown")


@pytest.fixture(scope="module")
async def inventory(postgres: LocalPostgres, auth_stack: AuthStack) -> AsyncIterator[InventoryStack]:
    """An inventory of its own that reads the counts often."""
    async with start_inventory(postgres, auth_stack, stats_seconds=0.1) as stack:
        yield stack


def gauge() -> dict[tuple[str, str], float]:
    return {
        (status, family): REGISTRY.get_sample_value("convoy_servers", {"status": status, "os_family": family})
        or 0.0
        for status in STATUSES
        for family in FAMILIES
    }


async def shows(expected: dict[tuple[str, str], float], what: str) -> None:
    """Waits until the gauge holds `expected` and 0 for every other series."""
    wanted = {key: expected.get(key, 0.0) for key in gauge()}
    await eventually(lambda: _equal(wanted), what=what)


async def _equal(wanted: dict[tuple[str, str], float]) -> bool:
    return gauge() == wanted


async def test_servers_are_counted_by_status_and_family(inventory: InventoryStack, users: Users) -> None:
    for status in STATUSES:
        for family in FAMILIES:
            labels = {"status": status, "os_family": family}
            assert REGISTRY.get_sample_value("convoy_servers", labels) is not None, labels
    await shows({}, "an empty inventory")

    ip = fresh_ip()
    async with inventory.channel("gateway") as channel:
        request = pb.CreateServerRequest(
            hostname=f"n-{uuid.uuid4().hex[:8]}", ip_address=ip, category=pb.CATEGORY_WEB
        )
        created = await pb_grpc.InventoryServiceStub(channel).CreateServer(
            request, metadata=grpc_auth(users.operator), timeout=10
        )
    server_id = created.server.id
    await shows({("pending", "unknown"): 1}, "a server without facts")

    async with inventory.channel("scheduler") as channel:
        stub = pb_grpc.InventoryServiceStub(channel)
        facts = pb.RecordFactsRequest(
            server_id=server_id,
            ip_address=ip,
            os=pb.OsFacts(os_id="rocky", package_family=pb.PACKAGE_FAMILY_RPM),
        )
        await stub.RecordFacts(facts, timeout=10)
        online = pb.SetServerStatusRequest(server_id=server_id, status=pb.SERVER_STATUS_ONLINE)
        online.time.GetCurrentTime()
        await stub.SetServerStatus(online, timeout=10)
    await shows({("online", "rpm"): 1}, "the server online with its family")

    async with inventory.channel("gateway") as channel:
        await pb_grpc.InventoryServiceStub(channel).DeleteServer(
            pb.DeleteServerRequest(id=server_id), metadata=grpc_auth(users.operator), timeout=10
        )
    await shows({}, "the deleted server's series back at zero")
