"""A real inventory (mTLS, port 0) with a gateway in front, and the wrong requests and staged races tests use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from devstack.postgres import LocalPostgres
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.gateway.routes import groups, servers
from services.inventory.config import InventorySettings
from services.inventory.models import SCHEMA
from services.inventory.server import InventoryProcess, build
from tests.support.stack import AuthStack, ServiceStack, fresh_database, service_settings
from tests.support.users import http_auth

__all__ = [
    "InventoryStack",
    "inventory_settings",
    "start_inventory",
    "inventory_gateway",
    "audit_records",
]


def inventory_settings(
    database_url: str, pki_dir: Path, auth_target: str, **overrides: Any
) -> InventorySettings:
    return InventorySettings(
        **service_settings(database_url, pki_dir, **{"auth_target": auth_target, **overrides})
    )


@dataclass
class InventoryStack(ServiceStack):
    process: InventoryProcess
    port: int
    settings: InventorySettings
    database_url: str

    @asynccontextmanager
    async def stub(self, name: str = "scheduler") -> AsyncIterator[inv_grpc.InventoryServiceStub]:
        """A stub on a channel presenting certificate `name` (a service peer when no token is sent)."""
        async with self.channel(name) as channel:
            yield inv_grpc.InventoryServiceStub(channel)


@asynccontextmanager
async def start_inventory(
    postgres: LocalPostgres, auth: AuthStack, **overrides: Any
) -> AsyncIterator[InventoryStack]:
    """A real inventory server on a fresh migrated database, with auth's token keys loaded."""
    url = await fresh_database(postgres, "inventory", migrations=(("services.inventory", SCHEMA),))
    settings = inventory_settings(url, auth.pki_dir, auth.target, **overrides)
    process = build(settings)
    port = await process.start()
    try:
        await process.keys.wait_loaded(10)
        yield InventoryStack(process, port, settings, url)
    finally:
        await process.stop()


def _with_inventory_routes(app: FastAPI) -> FastAPI:
    """Adds the servers and groups routers unless the app already serves them."""
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/api/v1/servers" not in paths:
        app.include_router(servers.router)
    if "/api/v1/groups" not in paths:
        app.include_router(groups.router)
    return app


@asynccontextmanager
async def inventory_gateway(auth: AuthStack, inventory: InventoryStack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real gateway app (lifespan and all) pointed at the real auth and inventory."""
    settings = GatewaySettings(
        env="dev", pki_dir=auth.pki_dir, auth_target=auth.target, inventory_target=inventory.target
    )
    app = _with_inventory_routes(create_app(settings))
    async with app.router.lifespan_context(app):
        await app.state.upstreams.keys.wait_loaded(10)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


async def audit_records(client: httpx.AsyncClient, admin_token: str, request_id: str) -> list[dict]:
    """The audit records written while serving the request `request_id`, read through the gateway."""
    response = await client.get(
        "/api/v1/audit", params={"request_id": request_id}, headers=http_auth(admin_token)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]
