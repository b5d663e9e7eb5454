"""No audit record, no change: with the audit log unreachable, changes are refused and nothing is written."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from devstack.postgres import LocalPostgres
from services.auth.server import build as build_auth
from tests.support.inventory import start_inventory
from tests.support.stack import ADMIN_PASSWORD, AuthStack, auth_settings, fresh_database, superuser_connection
from tests.support.users import grpc_auth, make_users

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_changes_roll_back_when_the_audit_log_is_unreachable(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    settings = auth_settings(await fresh_database(postgres, "auth"), pki_dir, tmp_path / "jwt.pem")
    auth = build_auth(settings)
    port = await auth.server.start()
    await auth.users.ensure_admin("admin", ADMIN_PASSWORD, reset=True)
    auth_stack = AuthStack(auth, port, settings, pki_dir)
    try:
        users = await make_users(auth_stack)
        async with start_inventory(postgres, auth_stack) as inventory:
            async with inventory.stub("gateway") as stub:
                operator = grpc_auth(users.operator)
                request = inv_pb.CreateServerRequest(ip_address="203.0.113.5", category=inv_pb.CATEGORY_WEB)
                kept = (await stub.CreateServer(request, metadata=operator, timeout=10)).server
                # Token keys stay loaded in the inventory; only the audit log goes away.
                await auth.server.stop()
                for call in (
                    stub.CreateServer(
                        inv_pb.CreateServerRequest(ip_address="203.0.113.6", category=inv_pb.CATEGORY_WEB),
                        metadata=operator,
                        timeout=10,
                    ),
                    stub.DeleteServer(inv_pb.DeleteServerRequest(id=kept.id), metadata=operator, timeout=10),
                    stub.CreateGroup(
                        inv_pb.CreateGroupRequest(name="unaudited"), metadata=operator, timeout=10
                    ),
                ):
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await call
                    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                    assert "nothing was changed" in (refused.value.details() or "")
            async with superuser_connection(inventory.database_url) as db:
                servers = await db.fetch("SELECT id FROM inventory.servers")
                groups = await db.fetchval("SELECT count(*) FROM inventory.groups")
            assert [row["id"] for row in servers] == [uuid.UUID(kept.id)] and groups == 0
    finally:
        await auth.server.stop()
        await auth.db.close()
