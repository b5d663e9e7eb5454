"""How many servers run each version of a software, through the real gateway, inventory and auth."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from tests.support.inventory import InventoryStack, inventory_gateway
from tests.support.stack import AuthStack
from tests.support.users import Users, http_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEB, RPM = inv_pb.PACKAGE_FAMILY_DEB, inv_pb.PACKAGE_FAMILY_RPM


@pytest.fixture(scope="module")
async def client(auth_stack: AuthStack, inventory: InventoryStack) -> AsyncIterator[httpx.AsyncClient]:
    async with inventory_gateway(auth_stack, inventory) as http:
        yield http


def software_name() -> str:
    """A name no other test uses, so counts are this test's own."""
    return f"sw-{uuid.uuid4().hex[:10]}"


async def server_with(
    client: httpx.AsyncClient, users: Users, inventory: InventoryStack, *software: tuple[str, str, int]
) -> str:
    """A new server whose agent reported `software` as (name, version, package family)."""
    n = uuid.uuid4().int
    body = {"ip_address": f"10.{n % 250}.{n // 250 % 250}.{n // 62500 % 250 + 1}", "category": "web"}
    created = await client.post("/api/v1/servers", json=body, headers=http_auth(users.operator))
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    items = [inv_pb.InstalledSoftware(name=name, version=v, package_family=f) for name, v, f in software]
    async with inventory.stub("scheduler") as stub:
        await stub.RecordInstalled(
            inv_pb.RecordInstalledRequest(server_id=server_id, software=items), timeout=10
        )
    return server_id


async def distribution(client: httpx.AsyncClient, token: str, name: str) -> list[tuple[str, int]]:
    response = await client.get(f"/api/v1/software/{name}/distribution", headers=http_auth(token))
    assert response.status_code == 200, response.text
    return [(item["version"], item["servers"]) for item in response.json()]


async def test_servers_are_counted_per_version_newest_first(
    client: httpx.AsyncClient, users: Users, inventory: InventoryStack
) -> None:
    nginx, other = software_name(), software_name()
    await server_with(client, users, inventory, (nginx, "1.24.0-1", DEB), (other, "3.0", DEB))
    await server_with(client, users, inventory, (nginx, "1.24.0-1", DEB))
    await server_with(client, users, inventory, (nginx, "1.9.2-1", DEB))
    await server_with(client, users, inventory, (nginx, "1.26.1-1.el9", RPM))
    await server_with(client, users, inventory, (nginx, "1:1.0-1", DEB))
    await server_with(client, users, inventory, (other, "4.0", DEB))

    # Version order, not text order: 1.9 is older than 1.24, and an epoch outranks any version.
    assert await distribution(client, users.viewer, nginx) == [
        ("1:1.0-1", 1),
        ("1.26.1-1.el9", 1),
        ("1.24.0-1", 2),
        ("1.9.2-1", 1),
    ]
    assert await distribution(client, users.viewer, other) == [("4.0", 1), ("3.0", 1)]


async def test_a_software_no_server_runs_has_an_empty_distribution(
    client: httpx.AsyncClient, users: Users
) -> None:
    assert await distribution(client, users.viewer, software_name()) == []


async def test_a_fleet_larger_than_one_page_is_counted_whole(
    client: httpx.AsyncClient, users: Users, inventory: InventoryStack
) -> None:
    name = software_name()
    # Inventory answers at most 500 rows a page; the gateway walks every page.
    for start in range(0, 510, 30):
        await asyncio.gather(
            *(
                server_with(client, users, inventory, (name, "2.0", DEB))
                for _ in range(start, min(start + 30, 510))
            )
        )
    await server_with(client, users, inventory, (name, "2.1", DEB))
    assert await distribution(client, users.admin, name) == [("2.1", 1), ("2.0", 510)]


async def test_it_needs_a_user_and_a_sensible_name(client: httpx.AsyncClient, users: Users) -> None:
    assert (await client.get("/api/v1/software/nginx/distribution")).status_code == 401
    url = f"/api/v1/software/{'n' * 300}/distribution"
    too_long = await client.get(url, headers=http_auth(users.viewer))
    assert too_long.status_code == 400, too_long.text
