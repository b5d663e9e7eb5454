"""Starts the real inventory gRPC server (mTLS, port 0) against a real auth, and a gateway in front of both."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
from fastapi import FastAPI

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from convoy.inventory.v1 import inventory_pb2_grpc as inv_grpc
from devstack.postgres import LocalPostgres
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.gateway.routes import groups, servers
from services.inventory.config import InventorySettings
from services.inventory.models import SCHEMA
from services.inventory.server import InventoryProcess, build
from services.kit.tls import open_channel
from tests.support.stack import ADMIN_PASSWORD, AuthStack, fresh_database

__all__ = [
    "USER_PASSWORD",
    "InventoryStack",
    "inventory_settings",
    "start_inventory",
    "inventory_gateway",
    "Tokens",
    "make_tokens",
    "bearer",
    "grpc_auth",
    "audit_records",
    "audit_by_request",
    "request_id",
]

USER_PASSWORD = "inventory-test-password"


def inventory_settings(
    database_url: str, pki_dir: Path, auth_target: str, **overrides: Any
) -> InventorySettings:
    values: dict[str, Any] = {
        "env": "dev",
        "database_url": database_url,
        "pki_dir": pki_dir,
        "listen": "127.0.0.1:0",
        "auth_target": auth_target,
        "drain_seconds": 0,
        "shutdown_grace_seconds": 1,
    }
    return InventorySettings(**{**values, **overrides})


@dataclass
class InventoryStack:
    process: InventoryProcess
    port: int
    settings: InventorySettings
    database_url: str

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self, name: str = "gateway") -> grpc.aio.Channel:
        """An mTLS channel presenting the certificate `name` from the test PKI."""
        return open_channel(self.target, self.settings.tls_files(name))

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


@dataclass(frozen=True)
class Tokens:
    """Access tokens of one admin, one operator and one viewer (with their usernames)."""

    admin: str
    operator: str
    viewer: str
    operator_name: str
    viewer_name: str


async def _login(stub: auth_grpc.AuthServiceStub, username: str, password: str) -> str:
    reply = await stub.Login(auth_pb.LoginRequest(username=username, password=password), timeout=10)
    return reply.tokens.access_token


async def make_tokens(auth: AuthStack) -> Tokens:
    """Logs in as admin, creates an operator and a viewer with unique names, and logs them in."""
    async with auth.channel("gateway") as channel:
        stub = auth_grpc.AuthServiceStub(channel)
        admin = await _login(stub, "admin", ADMIN_PASSWORD)
        names = {}
        for role, value in (("operator", auth_pb.ROLE_OPERATOR), ("viewer", auth_pb.ROLE_VIEWER)):
            names[role] = f"{role[0]}{uuid.uuid4().hex[:12]}"
            request = auth_pb.CreateUserRequest(username=names[role], role=value, password=USER_PASSWORD)
            await stub.CreateUser(request, metadata=(("authorization", f"Bearer {admin}"),), timeout=10)
        operator, viewer = await asyncio.gather(
            _login(stub, names["operator"], USER_PASSWORD), _login(stub, names["viewer"], USER_PASSWORD)
        )
    return Tokens(admin, operator, viewer, names["operator"], names["viewer"])


def bearer(token: str, request_id: str = "") -> dict[str, str]:
    """HTTP headers carrying an access token and, when given, a request id."""
    headers = {"Authorization": f"Bearer {token}"}
    if request_id:
        headers["X-Request-ID"] = request_id
    return headers


def grpc_auth(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying an access token."""
    return (("authorization", f"Bearer {token}"),)


async def audit_records(client: httpx.AsyncClient, admin_token: str, request_id: str) -> list[dict]:
    """The audit records written while serving the request `request_id`, read through the gateway."""
    response = await client.get(
        "/api/v1/audit", params={"request_id": request_id}, headers=bearer(admin_token)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def audit_by_request(auth: AuthStack, admin_token: str, rid: str) -> list[auth_pb.AuditRecord]:
    """The audit records of request `rid`, read straight from auth."""
    async with auth.channel("gateway") as channel:
        reply = await auth_grpc.AuditServiceStub(channel).ListAudit(
            auth_pb.ListAuditRequest(request_id=rid), metadata=grpc_auth(admin_token), timeout=10
        )
    return list(reply.records)


def request_id() -> str:
    return f"inv-{uuid.uuid4().hex}"
