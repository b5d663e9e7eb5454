"""What services report about servers (facts, status, installed software), over real gRPC and mTLS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from tests.support.inventory import (
    InventoryStack,
)
from tests.support.stack import AuthStack, superuser_connection
from tests.support.users import Users, audit_by_request, grpc_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

RPM, DEB = inv_pb.PACKAGE_FAMILY_RPM, inv_pb.PACKAGE_FAMILY_DEB


@pytest.fixture
async def scheduler(inventory: InventoryStack) -> AsyncIterator[inv_grpc.InventoryServiceStub]:
    """A service peer: the scheduler's certificate and no user token."""
    async with inventory.stub("scheduler") as stub:
        yield stub


@pytest.fixture
async def gateway(inventory: InventoryStack) -> AsyncIterator[inv_grpc.InventoryServiceStub]:
    """The gateway's channel, used with a user's access token."""
    async with inventory.stub("gateway") as stub:
        yield stub


_hosts = iter(range(1, 60000))


def address() -> str:
    n = next(_hosts)
    return f"172.16.{n // 250}.{n % 250 + 1}"


def stamp(when: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(when)
    return value


async def new_server(gateway: inv_grpc.InventoryServiceStub, users: Users) -> inv_pb.Server:
    request = inv_pb.CreateServerRequest(ip_address=address(), category=inv_pb.CATEGORY_WEB)
    return (await gateway.CreateServer(request, metadata=grpc_auth(users.operator), timeout=10)).server


async def expect(code: grpc.StatusCode, call: object, says: str = "") -> str:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    assert failed.value.code() == code, failed.value.details()
    assert says in (failed.value.details() or "")
    return failed.value.details() or ""


async def test_facts_of_a_new_node_register_it_once_and_later_facts_update_it(
    scheduler: inv_grpc.InventoryServiceStub, auth_stack: AuthStack, users: Users
) -> None:
    server_id, rid, ip = str(uuid.uuid4()), request_id("inv"), address()
    os = inv_pb.OsFacts(
        os_id="kylin", id_like=["rhel", "fedora"], version_id="V10", package_family=RPM, arch="aarch64"
    )
    first = await scheduler.RecordFacts(
        inv_pb.RecordFactsRequest(
            server_id=server_id, hostname="Node-1", ip_address=ip, os=os, agent_version="0.1.0"
        ),
        metadata=(("x-request-id", rid),),
        timeout=10,
    )
    server = first.server
    assert (server.id, server.hostname, server.ip_address) == (server_id, "node-1", ip)
    assert (server.category, server.status) == (inv_pb.CATEGORY_GENERAL, inv_pb.SERVER_STATUS_PENDING)
    assert (server.os.os_id, list(server.os.id_like), server.os.package_family) == (
        "kylin",
        ["rhel", "fedora"],
        RPM,
    )
    (record,) = await audit_by_request(auth_stack, users.admin, rid)
    assert (record.action, record.target, record.actor) == (
        "server.create",
        f"server:{server_id}",
        "service:scheduler",
    )

    rid = request_id("inv")
    later = await scheduler.RecordFacts(
        inv_pb.RecordFactsRequest(server_id=server_id, os=inv_pb.OsFacts(os_id="kylin", package_family=DEB)),
        metadata=(("x-request-id", rid),),
        timeout=10,
    )
    assert later.server.os.package_family == DEB and later.server.hostname == "node-1"
    assert later.server.ip_address == ip and later.server.agent_version == "0.1.0"
    assert await audit_by_request(auth_stack, users.admin, rid) == []


async def test_bad_facts_are_refused(
    scheduler: inv_grpc.InventoryServiceStub, gateway: inv_grpc.InventoryServiceStub, users: Users
) -> None:
    fresh = str(uuid.uuid4())
    await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        scheduler.RecordFacts(inv_pb.RecordFactsRequest(server_id=fresh), timeout=10),
        "must include ip_address",
    )
    await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        scheduler.RecordFacts(inv_pb.RecordFactsRequest(server_id="nope", ip_address=address()), timeout=10),
        "server_id must be a UUID",
    )
    await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        scheduler.RecordFacts(
            inv_pb.RecordFactsRequest(
                server_id=fresh, ip_address=address(), os=inv_pb.OsFacts(package_family=7)
            ),
            timeout=10,
        ),
        "package_family",
    )
    taken = await new_server(gateway, users)
    details = await expect(
        grpc.StatusCode.ALREADY_EXISTS,
        scheduler.RecordFacts(
            inv_pb.RecordFactsRequest(server_id=fresh, ip_address=taken.ip_address), timeout=10
        ),
    )
    assert taken.id in details


async def test_only_services_report_and_a_user_is_refused_on_the_record(
    gateway: inv_grpc.InventoryServiceStub, auth_stack: AuthStack, users: Users
) -> None:
    server = await new_server(gateway, users)
    calls = {
        "server.facts": gateway.RecordFacts(
            inv_pb.RecordFactsRequest(server_id=server.id, hostname="evil"),
            metadata=grpc_auth(users.admin, rid_facts := request_id("inv")),
            timeout=10,
        ),
        "server.status": gateway.SetServerStatus(
            inv_pb.SetServerStatusRequest(server_id=server.id, status=inv_pb.SERVER_STATUS_ONLINE),
            metadata=grpc_auth(users.operator, rid_status := request_id("inv")),
            timeout=10,
        ),
        "installed.record": gateway.RecordInstalled(
            inv_pb.RecordInstalledRequest(server_id=server.id),
            metadata=grpc_auth(users.admin, rid_installed := request_id("inv")),
            timeout=10,
        ),
    }
    for call in calls.values():
        await expect(grpc.StatusCode.PERMISSION_DENIED, call, "only Convoy services")
    for action, rid in zip(calls, (rid_facts, rid_status, rid_installed), strict=True):
        (record,) = await audit_by_request(auth_stack, users.admin, rid)
        assert (record.action, record.result) == (action, auth_pb.AUDIT_RESULT_DENIED), record
    reread = await gateway.GetServer(inv_pb.GetServerRequest(id=server.id), metadata=grpc_auth(users.viewer))
    assert reread.server.hostname == "" and reread.server.status == inv_pb.SERVER_STATUS_PENDING


async def test_status_follows_the_newest_report_only(
    scheduler: inv_grpc.InventoryServiceStub,
    gateway: inv_grpc.InventoryServiceStub,
    users: Users,
    inventory: InventoryStack,
) -> None:
    server = await new_server(gateway, users)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    async def report(status: int, when: datetime | None) -> inv_pb.Server:
        request = inv_pb.SetServerStatusRequest(server_id=server.id, status=status)
        if when is not None:
            request.time.CopyFrom(stamp(when))
        return (await scheduler.SetServerStatus(request, timeout=10)).server

    online = await report(inv_pb.SERVER_STATUS_ONLINE, base)
    assert online.status == inv_pb.SERVER_STATUS_ONLINE and online.last_seen.ToDatetime(UTC) == base
    stale = await report(inv_pb.SERVER_STATUS_OFFLINE, base - timedelta(minutes=5))
    assert stale.status == inv_pb.SERVER_STATUS_ONLINE and stale.last_seen.ToDatetime(UTC) == base
    offline = await report(inv_pb.SERVER_STATUS_OFFLINE, base + timedelta(minutes=5))
    assert offline.status == inv_pb.SERVER_STATUS_OFFLINE
    future = await report(inv_pb.SERVER_STATUS_ONLINE, datetime.now(UTC) + timedelta(days=365))
    assert future.last_seen.ToDatetime(UTC) <= datetime.now(UTC) + timedelta(seconds=1)
    assert (await report(inv_pb.SERVER_STATUS_OFFLINE, None)).status == inv_pb.SERVER_STATUS_OFFLINE

    for status in (inv_pb.SERVER_STATUS_PENDING, inv_pb.SERVER_STATUS_UNSPECIFIED, 9):
        await expect(
            grpc.StatusCode.INVALID_ARGUMENT,
            scheduler.SetServerStatus(
                inv_pb.SetServerStatusRequest(server_id=server.id, status=status), timeout=10
            ),
            "online, offline or revoked",
        )
    await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        scheduler.SetServerStatus(
            inv_pb.SetServerStatusRequest(
                server_id=server.id, status=inv_pb.SERVER_STATUS_OFFLINE, enrolled=True
            ),
            timeout=10,
        ),
        "pending until its agent connects",
    )
    await expect(
        grpc.StatusCode.NOT_FOUND,
        scheduler.SetServerStatus(
            inv_pb.SetServerStatusRequest(server_id=str(uuid.uuid4()), status=inv_pb.SERVER_STATUS_ONLINE),
            timeout=10,
        ),
    )
    revoked = await report(inv_pb.SERVER_STATUS_REVOKED, None)
    assert revoked.status == inv_pb.SERVER_STATUS_REVOKED
    assert (await report(inv_pb.SERVER_STATUS_REVOKED, None)).status == inv_pb.SERVER_STATUS_REVOKED
    for status in (inv_pb.SERVER_STATUS_ONLINE, inv_pb.SERVER_STATUS_OFFLINE):
        await expect(
            grpc.StatusCode.FAILED_PRECONDITION,
            scheduler.SetServerStatus(
                inv_pb.SetServerStatusRequest(server_id=server.id, status=status), timeout=10
            ),
            "enroll again",
        )
    # Enrolling again with a new certificate brings it back, pending until its agent connects, even with a
    # clock behind the last report; the agent's first connection makes it online.
    back = await scheduler.SetServerStatus(
        inv_pb.SetServerStatusRequest(
            server_id=server.id, status=inv_pb.SERVER_STATUS_PENDING, enrolled=True, time=None
        ),
        timeout=10,
    )
    assert back.server.status == inv_pb.SERVER_STATUS_PENDING
    assert (await report(inv_pb.SERVER_STATUS_ONLINE, None)).status == inv_pb.SERVER_STATUS_ONLINE


def software(*items: tuple[str, str], family: int = DEB, source: int = 0) -> list[inv_pb.InstalledSoftware]:
    return [
        inv_pb.InstalledSoftware(name=n, version=v, package_family=family, source=source) for n, v in items
    ]


async def installed(
    stub: inv_grpc.InventoryServiceStub, token: str, **request: object
) -> list[tuple[str, str, str]]:
    rows, page_token = [], ""
    while True:
        reply = await stub.ListInstalled(
            inv_pb.ListInstalledRequest(page_size=2, page_token=page_token, **request),  # type: ignore[arg-type]
            metadata=grpc_auth(token),
            timeout=10,
        )
        rows += [(row.server_id, row.software.name, row.software.version) for row in reply.installed]
        page_token = reply.next_page_token
        if not page_token:
            return rows


async def test_installed_software_is_replaced_atomically_and_listed(
    scheduler: inv_grpc.InventoryServiceStub, gateway: inv_grpc.InventoryServiceStub, users: Users
) -> None:
    one, two = await new_server(gateway, users), await new_server(gateway, users)
    name = f"app-{uuid.uuid4().hex[:8]}"
    await scheduler.RecordInstalled(
        inv_pb.RecordInstalledRequest(
            server_id=one.id, software=software((name, "1.0"), ("zlib", "1.3"), ("curl", "8"))
        ),
        timeout=10,
    )
    deployed = inv_pb.INSTALLED_SOURCE_DEPLOYMENT
    await scheduler.RecordInstalled(
        inv_pb.RecordInstalledRequest(
            server_id=two.id, software=software((name, "2.0"), family=RPM, source=deployed)
        ),
        timeout=10,
    )
    assert await installed(gateway, users.viewer, server_id=one.id) == [
        (one.id, name, "1.0"),
        (one.id, "curl", "8"),
        (one.id, "zlib", "1.3"),
    ]
    assert sorted(await installed(gateway, users.viewer, name=name)) == sorted(
        [(one.id, name, "1.0"), (two.id, name, "2.0")]
    )
    reply = await gateway.ListInstalled(
        inv_pb.ListInstalledRequest(server_id=two.id), metadata=grpc_auth(users.viewer), timeout=10
    )
    (row,) = reply.installed
    assert (row.software.package_family, row.software.source) == (RPM, deployed)
    assert row.software.HasField("observed_at")

    duplicate = software(("curl", "9"), ("curl", "10"))
    await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        scheduler.RecordInstalled(
            inv_pb.RecordInstalledRequest(server_id=one.id, software=duplicate), timeout=10
        ),
        "listed twice",
    )
    for bad, says in (
        (software(("", "1")), "name"),
        (software(("curl", "")), "version"),
        (software(("curl", "1"), family=5), "package_family"),
        (software(("curl", "1"), source=5), "source"),
    ):
        await expect(
            grpc.StatusCode.INVALID_ARGUMENT,
            scheduler.RecordInstalled(
                inv_pb.RecordInstalledRequest(server_id=one.id, software=bad), timeout=10
            ),
            says,
        )
    assert len(await installed(gateway, users.viewer, server_id=one.id)) == 3
    await scheduler.RecordInstalled(inv_pb.RecordInstalledRequest(server_id=one.id), timeout=10)
    assert await installed(gateway, users.viewer, server_id=one.id) == []
    await expect(
        grpc.StatusCode.NOT_FOUND,
        scheduler.RecordInstalled(inv_pb.RecordInstalledRequest(server_id=str(uuid.uuid4())), timeout=10),
    )


async def test_deleting_a_server_removes_its_memberships_and_software(
    scheduler: inv_grpc.InventoryServiceStub,
    gateway: inv_grpc.InventoryServiceStub,
    users: Users,
    inventory: InventoryStack,
) -> None:
    operator = grpc_auth(users.operator)
    group = (
        await gateway.CreateGroup(
            inv_pb.CreateGroupRequest(name=f"d{uuid.uuid4().hex[:8]}"), metadata=operator
        )
    ).group
    server = (
        await gateway.CreateServer(
            inv_pb.CreateServerRequest(
                ip_address=address(), category=inv_pb.CATEGORY_WEB, group_ids=[group.id]
            ),
            metadata=operator,
        )
    ).server
    await scheduler.RecordInstalled(
        inv_pb.RecordInstalledRequest(server_id=server.id, software=software(("curl", "8"))), timeout=10
    )
    await gateway.DeleteServer(inv_pb.DeleteServerRequest(id=server.id), metadata=operator)
    async with superuser_connection(inventory.database_url) as db:
        key = uuid.UUID(server.id)
        assert await db.fetchval("SELECT count(*) FROM inventory.memberships WHERE server_id = $1", key) == 0
        assert await db.fetchval("SELECT count(*) FROM inventory.installed WHERE server_id = $1", key) == 0
    reread = await gateway.GetGroup(inv_pb.GetGroupRequest(id=group.id), metadata=operator)
    assert reread.group.member_count == 0
