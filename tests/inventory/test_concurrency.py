"""Races staged exactly: a transaction held open in the database while inventory's calls run into it."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest

from convoy.inventory.v1 import inventory_pb2 as pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from tests.support.inventory import InventoryStack
from tests.support.mistakes import wait_for_blocked
from tests.support.stack import superuser_connection
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def gateway(inventory: InventoryStack) -> AsyncIterator[inv_grpc.InventoryServiceStub]:
    async with inventory.stub("gateway") as stub:
        yield stub


_addresses = itertools.count(1)


async def new_servers(inventory: InventoryStack, count: int) -> list[uuid.UUID]:
    now, ids = datetime.now(UTC), [uuid.uuid4() for _ in range(count)]
    rows = [
        (i, f"10.66.{n // 250}.{n % 250 + 1}", "web", now, now) for i, n in zip(ids, _addresses, strict=False)
    ]
    async with superuser_connection(inventory.database_url) as db:
        await db.copy_records_to_table(
            "servers",
            schema_name="inventory",
            records=rows,
            columns=("id", "ip_address", "category", "created_at", "updated_at"),
        )
    return ids


async def new_group(gateway: inv_grpc.InventoryServiceStub, users: Users) -> str:
    request = pb.CreateGroupRequest(name=uuid.uuid4().hex)
    return (await gateway.CreateGroup(request, metadata=grpc_auth(users.operator), timeout=10)).group.id


async def test_overlapping_adds_in_opposite_orders_do_not_deadlock(
    inventory: InventoryStack, gateway: inv_grpc.InventoryServiceStub, users: Users
) -> None:
    ids = await new_servers(inventory, 200)
    group_id = await new_group(gateway, users)
    # A membership row held by an open transaction stops both calls halfway, each in its own order.
    async with superuser_connection(inventory.database_url) as db:
        held = db.transaction()
        await held.start()
        await db.execute(
            "INSERT INTO inventory.memberships (group_id, server_id, added_at) VALUES ($1, $2, now())",
            uuid.UUID(group_id),
            ids[100],
        )
        calls = [
            asyncio.ensure_future(
                gateway.AddGroupMembers(
                    pb.AddGroupMembersRequest(group_id=group_id, server_ids=[str(i) for i in order]),
                    metadata=grpc_auth(users.operator),
                    timeout=30,
                )
            )
            for order in (ids, ids[::-1])
        ]
        async with superuser_connection(inventory.database_url) as watcher:
            await wait_for_blocked(watcher, 2)
        await held.rollback()
    replies = await asyncio.gather(*calls, return_exceptions=True)
    assert sorted(r.added if isinstance(r, pb.AddGroupMembersResponse) else repr(r) for r in replies) == [
        0,
        200,
    ]


async def test_adding_members_to_a_group_being_deleted_says_the_group_is_gone(
    inventory: InventoryStack, gateway: inv_grpc.InventoryServiceStub, users: Users
) -> None:
    (server_id,) = await new_servers(inventory, 1)
    group_id = await new_group(gateway, users)
    async with superuser_connection(inventory.database_url) as db:
        deleting = db.transaction()
        await deleting.start()
        await db.execute("DELETE FROM inventory.groups WHERE id = $1", uuid.UUID(group_id))
        add = asyncio.ensure_future(
            gateway.AddGroupMembers(
                pb.AddGroupMembersRequest(group_id=group_id, server_ids=[str(server_id)]),
                metadata=grpc_auth(users.operator),
                timeout=30,
            )
        )
        async with superuser_connection(inventory.database_url) as watcher:
            await wait_for_blocked(watcher, 1)
        await deleting.commit()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await add
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND, failed.value.details()
    assert group_id in (failed.value.details() or "")


async def test_two_reports_registering_one_new_node_both_succeed(inventory: InventoryStack) -> None:
    server_id, ip = uuid.uuid4(), "10.67.0.1"
    async with superuser_connection(inventory.database_url) as db, inventory.stub("scheduler") as scheduler:
        first = db.transaction()
        await first.start()
        # The first report's registration, not yet committed.
        await db.execute(
            "INSERT INTO inventory.servers (id, ip_address, category, created_at, updated_at)"
            " VALUES ($1, $2, 'general', now(), now())",
            server_id,
            ip,
        )
        second = asyncio.ensure_future(
            scheduler.RecordFacts(
                pb.RecordFactsRequest(server_id=str(server_id), ip_address=ip, hostname="node-7"), timeout=30
            )
        )
        async with superuser_connection(inventory.database_url) as watcher:
            await wait_for_blocked(watcher, 1)
        await first.commit()
        reply = await second
    assert (reply.server.id, reply.server.hostname, reply.server.ip_address) == (str(server_id), "node-7", ip)
