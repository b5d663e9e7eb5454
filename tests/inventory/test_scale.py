"""A fleet of 10,000 servers: every page is one query plus a count plus one query for group ids."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from devstack.postgres import LocalPostgres
from tests.support.inventory import InventoryStack, start_inventory
from tests.support.stack import AuthStack, superuser_connection
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

FLEET = 10_000
COLUMNS = (
    "id",
    "hostname",
    "ip_address",
    "category",
    "labels",
    "package_family",
    "status",
    "created_at",
    "updated_at",
)


@pytest.fixture(scope="module")
async def inventory(postgres: LocalPostgres, auth_stack: AuthStack) -> AsyncIterator[InventoryStack]:
    """An inventory whose database already holds a large fleet, two groups, and memberships."""
    async with start_inventory(postgres, auth_stack) as stack:
        await _load_fleet(stack.database_url)
        yield stack


async def _load_fleet(url: str) -> None:
    now = datetime.now(UTC)
    rows = [
        (
            uuid.uuid4(),
            f"node-{i:05d}.fleet",
            f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            ("web", "database")[i % 2],
            f'{{"rack": "r{i % 10}"}}',
            ("deb", "rpm")[i % 3 == 0],
            ("online", "offline", "revoked")[i % 3],
            now,
            now,
        )
        for i in range(FLEET)
    ]
    groups = [(uuid.uuid4(), f"half-{n}", "", now, now) for n in range(2)]
    async with superuser_connection(url) as db:
        await db.copy_records_to_table("servers", schema_name="inventory", records=rows, columns=COLUMNS)
        await db.copy_records_to_table(
            "groups",
            schema_name="inventory",
            records=groups,
            columns=("id", "name", "description", "created_at", "updated_at"),
        )
        members = [(groups[i % 2][0], row[0], now) for i, row in enumerate(rows)]
        await db.copy_records_to_table(
            "memberships",
            schema_name="inventory",
            records=members,
            columns=("group_id", "server_id", "added_at"),
        )


@contextmanager
def statements(stack: InventoryStack) -> Iterator[list[str]]:
    """The SQL statements the inventory sends to its schema while the block runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "inventory." in statement:
            seen.append(statement)

    engine = stack.process.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_paging_through_the_whole_fleet(inventory: InventoryStack, users: Users) -> None:
    async with inventory.stub("gateway") as stub:
        seen: list[str] = []
        token, per_page = "", set()
        while True:
            with statements(inventory) as sql:
                reply = await _list(stub, users, page_size=500, page_token=token)
            per_page.add(len(sql))
            assert reply.total_size == FLEET and all(len(s.group_ids) == 1 for s in reply.servers)
            seen += [server.hostname for server in reply.servers]
            token = reply.next_page_token
            if not token:
                break
    assert per_page == {3}
    assert seen == [f"node-{i:05d}.fleet" for i in range(FLEET)]


async def test_filters_at_fleet_size(inventory: InventoryStack, users: Users) -> None:
    async with inventory.stub("gateway") as stub:
        web_rpm = await _list(stub, users, label_selector="os_family=rpm,category=web,rack=r4", page_size=500)
        expected = [i for i in range(FLEET) if i % 3 == 0 and i % 2 == 0 and i % 10 == 4]
        assert web_rpm.total_size == len(expected)
        assert [s.hostname for s in web_rpm.servers] == [f"node-{i:05d}.fleet" for i in expected]
        in_group = await _list(stub, users, label_selector="group=HALF-1,status=online", page_size=1)
        assert in_group.total_size == len([i for i in range(FLEET) if i % 2 == 1 and i % 3 == 0])
        searched = await _list(stub, users, query="node-0999", status=inv_pb.SERVER_STATUS_REVOKED)
        assert [s.hostname for s in searched.servers] == [f"node-0999{d}.fleet" for d in (2, 5, 8)]
        resolved = await stub.ResolveTargets(
            inv_pb.ResolveTargetsRequest(target=inv_pb.Target(all=True)), metadata=grpc_auth(users.viewer)
        )
        assert len(resolved.servers) == len([i for i in range(FLEET) if i % 3 != 2])


async def _list(
    stub: inv_grpc.InventoryServiceStub, users: Users, **request: object
) -> inv_pb.ListServersResponse:
    return await stub.ListServers(
        inv_pb.ListServersRequest(**request),  # type: ignore[arg-type]
        metadata=grpc_auth(users.viewer),
        timeout=30,
    )
