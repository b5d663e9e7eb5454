"""A client's mistakes are the client's errors: no request, however wrong, makes inventory answer INTERNAL."""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf.message import Message

from convoy.inventory.v1 import inventory_pb2 as pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from tests.support.inventory import InventoryStack
from tests.support.mistakes import server_faults
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Reports come from services (their certificate, no user token); everything else from the gateway.
SERVICE_RPCS = {"RecordInstalled", "RecordFacts", "SetServerStatus"}
_addresses = itertools.count(1)


@dataclass(frozen=True)
class Fleet:
    """A server and a group that the requests name, and stubs to call as the gateway or a service."""

    server_id: str
    group_id: str
    gateway: inv_grpc.InventoryServiceStub
    scheduler: inv_grpc.InventoryServiceStub
    admin: tuple[tuple[str, str], ...]

    async def call(self, rpc: str, request: Message) -> object:
        if rpc in SERVICE_RPCS:
            return await getattr(self.scheduler, rpc)(request, timeout=20)
        return await getattr(self.gateway, rpc)(request, metadata=self.admin, timeout=20)


@pytest.fixture(scope="module")
async def fleet(inventory: InventoryStack, users: Users) -> AsyncIterator[Fleet]:
    async with inventory.stub("gateway") as gateway, inventory.stub("scheduler") as scheduler:
        admin = grpc_auth(users.admin)
        server = await gateway.CreateServer(
            pb.CreateServerRequest(ip_address=fresh_ip(), category=pb.CATEGORY_WEB), metadata=admin
        )
        group = await gateway.CreateGroup(pb.CreateGroupRequest(name=uuid.uuid4().hex), metadata=admin)
        yield Fleet(server.server.id, group.group.id, gateway, scheduler, admin)


def fresh_ip() -> str:
    n = next(_addresses)
    return f"10.77.{n // 250}.{n % 250 + 1}"


def requests(fleet: Fleet) -> dict[str, Callable[[], Message]]:
    """A valid request of every RPC; each call makes a new one (creations need fresh names)."""
    server, group = fleet.server_id, fleet.group_id
    return {
        "CreateServer": lambda: pb.CreateServerRequest(ip_address=fresh_ip(), category=pb.CATEGORY_WEB),
        "GetServer": lambda: pb.GetServerRequest(id=server),
        "ListServers": lambda: pb.ListServersRequest(),
        "UpdateServer": lambda: pb.UpdateServerRequest(id=server),
        "DeleteServer": lambda: pb.DeleteServerRequest(id=str(uuid.uuid4())),
        "CreateGroup": lambda: pb.CreateGroupRequest(
            name=uuid.uuid4().hex,
            maintenance_window=pb.MaintenanceWindow(cron="0 2 * * *", duration_seconds=60, timezone="UTC"),
        ),
        "GetGroup": lambda: pb.GetGroupRequest(id=group),
        "ListGroups": lambda: pb.ListGroupsRequest(),
        "UpdateGroup": lambda: pb.UpdateGroupRequest(id=group),
        "DeleteGroup": lambda: pb.DeleteGroupRequest(id=str(uuid.uuid4())),
        "AddGroupMembers": lambda: pb.AddGroupMembersRequest(group_id=group, server_ids=[server]),
        "RemoveGroupMembers": lambda: pb.RemoveGroupMembersRequest(group_id=group, server_ids=[server]),
        "ListGroupMembers": lambda: pb.ListGroupMembersRequest(group_id=group),
        "ListInstalled": lambda: pb.ListInstalledRequest(),
        "ResolveTargets": lambda: pb.ResolveTargetsRequest(target=pb.Target(selector="env=prod")),
        "RecordInstalled": lambda: pb.RecordInstalledRequest(
            server_id=server, software=[pb.InstalledSoftware(name="nginx", version="1.24.0")]
        ),
        "RecordFacts": lambda: pb.RecordFactsRequest(server_id=server, os=pb.OsFacts(os_id="kylin")),
        "SetServerStatus": lambda: pb.SetServerStatusRequest(
            server_id=server, status=pb.SERVER_STATUS_ONLINE
        ),
    }


@pytest.mark.parametrize("rpc", sorted(pb.DESCRIPTOR.services_by_name["InventoryService"].methods_by_name))
async def test_no_wrong_field_value_is_a_server_fault(fleet: Fleet, rpc: str) -> None:
    make_request = requests(fleet)[rpc]
    assert await server_faults(lambda request: fleet.call(rpc, request), make_request) == []


async def expect_invalid(call: object, says: str = "") -> str:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failed.value.details()
    assert says in (failed.value.details() or "")
    return failed.value.details() or ""


async def test_text_postgres_cannot_store_is_refused_with_the_field_named(fleet: Fleet) -> None:
    await expect_invalid(
        fleet.call("CreateGroup", pb.CreateGroupRequest(name="g", description="a\x00b")), "description"
    )
    await expect_invalid(fleet.call("ListServers", pb.ListServersRequest(query="\x00")), "query")
    await expect_invalid(fleet.call("ListGroups", pb.ListGroupsRequest(query="a\x00")), "query")
    await expect_invalid(fleet.call("ListInstalled", pb.ListInstalledRequest(name="\x00")), "software name")


def forged(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


async def test_page_tokens_that_were_never_issued_are_refused(fleet: Fleet) -> None:
    nested = base64.urlsafe_b64encode(b"[" * 3000).decode()
    for token in (nested, "x" * 5000, forged({"f": "?", "h": "\x00", "id": str(uuid.uuid4())})):
        for rpc, request in (
            ("ListServers", pb.ListServersRequest(page_token=token)),
            ("ListGroups", pb.ListGroupsRequest(page_token=token)),
            ("ListGroupMembers", pb.ListGroupMembersRequest(group_id=fleet.group_id, page_token=token)),
            ("ListInstalled", pb.ListInstalledRequest(page_token=token)),
        ):
            await expect_invalid(fleet.call(rpc, request), "page_token")


async def test_a_page_token_works_only_for_the_listing_and_filters_it_was_issued_for(fleet: Fleet) -> None:
    for _ in range(2):
        await fleet.call(
            "CreateServer", pb.CreateServerRequest(ip_address=fresh_ip(), category=pb.CATEGORY_WEB)
        )
    web = await fleet.call("ListServers", pb.ListServersRequest(page_size=1, category=pb.CATEGORY_WEB))
    token = web.next_page_token  # type: ignore[attr-defined]
    assert token
    same = await fleet.call(
        "ListServers", pb.ListServersRequest(page_size=1, category=pb.CATEGORY_WEB, page_token=token)
    )
    assert same.servers  # type: ignore[attr-defined]
    await expect_invalid(
        fleet.call("ListServers", pb.ListServersRequest(category=pb.CATEGORY_DATABASE, page_token=token)),
        "other filters",
    )
    await expect_invalid(
        fleet.call("ListGroupMembers", pb.ListGroupMembersRequest(group_id=fleet.group_id, page_token=token)),
        "other filters",
    )


async def test_timestamps_a_timestamp_cannot_hold_are_refused(fleet: Fleet) -> None:
    status = pb.SetServerStatusRequest(server_id=fleet.server_id, status=pb.SERVER_STATUS_ONLINE)
    status.time.seconds = 2**40
    await expect_invalid(fleet.call("SetServerStatus", status), "time")
    installed = pb.InstalledSoftware(name="nginx", version="1.0")
    installed.observed_at.nanos = -5
    report = pb.RecordInstalledRequest(server_id=fleet.server_id, software=[installed])
    await expect_invalid(fleet.call("RecordInstalled", report), "observed_at")
