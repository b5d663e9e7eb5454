"""A fleet larger than PostgreSQL's limit of 32767 parameters in one statement."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from devstack.postgres import LocalPostgres
from tests.support.inventory import InventoryStack, start_inventory
from tests.support.stack import AuthStack, superuser_connection
from tests.support.users import grpc_auth, make_users

pytestmark = pytest.mark.asyncio(loop_scope="session")

FLEET = 33_000


@pytest.fixture(scope="module")
async def inventory(postgres: LocalPostgres, auth_stack: AuthStack) -> AsyncIterator[InventoryStack]:
    async with start_inventory(postgres, auth_stack) as stack:
        now = datetime.now(UTC)
        rows = [
            (uuid.uuid4(), f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", "web", now, now)
            for i in range(FLEET)
        ]
        async with superuser_connection(stack.database_url) as db:
            await db.copy_records_to_table(
                "servers",
                schema_name="inventory",
                records=rows,
                columns=("id", "ip_address", "category", "created_at", "updated_at"),
            )
        yield stack


async def test_every_server_of_a_fleet_beyond_32767_resolves(
    inventory: InventoryStack, auth_stack: AuthStack
) -> None:
    users = await make_users(auth_stack)
    async with inventory.stub("gateway") as stub:
        reply = await stub.ResolveTargets(
            inv_pb.ResolveTargetsRequest(target=inv_pb.Target(all=True)),
            metadata=grpc_auth(users.viewer),
            timeout=60,
        )
    assert len(reply.servers) == FLEET
