"""RecordInstalled with merge: a deployment's result changes only the names it lists, over real gRPC and mTLS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from tests.support.inventory import InventoryStack

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEB = inv_pb.PACKAGE_FAMILY_DEB
AGENT, DEPLOYMENT = inv_pb.INSTALLED_SOURCE_AGENT_REPORT, inv_pb.INSTALLED_SOURCE_DEPLOYMENT


@pytest.fixture
async def scheduler(inventory: InventoryStack) -> AsyncIterator[inv_grpc.InventoryServiceStub]:
    """A service peer: the scheduler's certificate and no user token."""
    async with inventory.stub("scheduler") as stub:
        yield stub


_hosts = iter(range(1, 60000))


async def new_node(scheduler: inv_grpc.InventoryServiceStub) -> str:
    server_id, n = str(uuid.uuid4()), next(_hosts)
    request = inv_pb.RecordFactsRequest(server_id=server_id, ip_address=f"172.20.{n // 250}.{n % 250 + 1}")
    await scheduler.RecordFacts(request, timeout=10)
    return server_id


def item(name: str, version: str, source: int = AGENT) -> inv_pb.InstalledSoftware:
    return inv_pb.InstalledSoftware(name=name, version=version, package_family=DEB, source=source)


async def installed(scheduler: inv_grpc.InventoryServiceStub, server_id: str) -> dict[str, tuple[str, int]]:
    reply = await scheduler.ListInstalled(inv_pb.ListInstalledRequest(server_id=server_id), timeout=10)
    return {row.software.name: (row.software.version, row.software.source) for row in reply.installed}


async def test_merge_changes_only_the_listed_names_and_an_empty_version_removes_one(
    scheduler: inv_grpc.InventoryServiceStub,
) -> None:
    server_id = await new_node(scheduler)
    full = [item("nginx-app", "2.0"), item("redis", "7.0"), item("tool", "1.0")]
    await scheduler.RecordInstalled(
        inv_pb.RecordInstalledRequest(server_id=server_id, software=full), timeout=10
    )

    merged = [item("nginx-app", "2.1", DEPLOYMENT), item("tool", ""), item("new-app", "0.1", DEPLOYMENT)]
    request = inv_pb.RecordInstalledRequest(server_id=server_id, software=merged, merge=True)
    await scheduler.RecordInstalled(request, timeout=10)

    assert await installed(scheduler, server_id) == {
        "nginx-app": ("2.1", DEPLOYMENT),
        "redis": ("7.0", AGENT),
        "new-app": ("0.1", DEPLOYMENT),
    }


async def test_removing_a_name_that_is_not_there_changes_nothing(
    scheduler: inv_grpc.InventoryServiceStub,
) -> None:
    server_id = await new_node(scheduler)
    await scheduler.RecordInstalled(
        inv_pb.RecordInstalledRequest(server_id=server_id, software=[item("redis", "7.0")]), timeout=10
    )
    request = inv_pb.RecordInstalledRequest(server_id=server_id, software=[item("absent", "")], merge=True)
    await scheduler.RecordInstalled(request, timeout=10)
    assert await installed(scheduler, server_id) == {"redis": ("7.0", AGENT)}


async def test_a_full_report_still_needs_a_version_and_replaces_the_whole_set(
    scheduler: inv_grpc.InventoryServiceStub,
) -> None:
    server_id = await new_node(scheduler)
    await scheduler.RecordInstalled(
        inv_pb.RecordInstalledRequest(server_id=server_id, software=[item("a", "1"), item("b", "2")]),
        timeout=10,
    )
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        request = inv_pb.RecordInstalledRequest(server_id=server_id, software=[item("a", "")])
        await scheduler.RecordInstalled(request, timeout=10)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "needs a version" in (failed.value.details() or "")

    await scheduler.RecordInstalled(
        inv_pb.RecordInstalledRequest(server_id=server_id, software=[item("b", "3")]), timeout=10
    )
    assert await installed(scheduler, server_id) == {"b": ("3", AGENT)}


async def test_a_merge_listing_a_name_twice_is_refused_and_changes_nothing(
    scheduler: inv_grpc.InventoryServiceStub,
) -> None:
    server_id = await new_node(scheduler)
    await scheduler.RecordInstalled(
        inv_pb.RecordInstalledRequest(server_id=server_id, software=[item("a", "1")]), timeout=10
    )
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        request = inv_pb.RecordInstalledRequest(
            server_id=server_id, software=[item("a", "2"), item("a", "")], merge=True
        )
        await scheduler.RecordInstalled(request, timeout=10)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await installed(scheduler, server_id) == {"a": ("1", AGENT)}


async def test_a_merge_for_an_unknown_server_is_not_found(scheduler: inv_grpc.InventoryServiceStub) -> None:
    request = inv_pb.RecordInstalledRequest(
        server_id=str(uuid.uuid4()), software=[item("a", "1")], merge=True
    )
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await scheduler.RecordInstalled(request, timeout=10)
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
