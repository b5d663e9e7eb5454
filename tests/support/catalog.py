"""Starts the real catalog gRPC server (mTLS, port 0) against a real auth and a small in-memory transfer."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from convoy.transfer.v1 import transfer_pb2_grpc as transfer_grpc
from devstack.postgres import LocalPostgres
from services.catalog.artifacts import ArtifactStore
from services.catalog.config import CatalogSettings
from services.catalog.models import SCHEMA
from services.catalog.server import CatalogProcess, build
from services.kit.settings import TlsFiles
from services.kit.tls import open_channel, peer_common_name, server_credentials
from tests.support.stack import ADMIN_PASSWORD, AuthStack, fresh_database

__all__ = [
    "MemoryTransfer",
    "memory_transfer",
    "CatalogStack",
    "start_catalog",
    "catalog_database",
    "Users",
    "make_users",
    "bearer",
    "TransferCall",
    "audit_records",
]


def bearer(token: str, request_id: str = "") -> tuple[tuple[str, str], ...]:
    """Call metadata carrying a user's access token (and a request id to find audit records by)."""
    items = [("authorization", f"Bearer {token}")]
    if request_id:
        items.append(("x-request-id", request_id))
    return tuple(items)


@dataclass(frozen=True)
class TransferCall:
    method: str
    caller: str
    request_id: str
    holder: str


@dataclass
class MemoryTransfer(transfer_grpc.TransferServiceServicer):
    """transfer's reference RPCs over a dict of blobs, served for real over mTLS as "transfer"."""

    sizes: dict[str, int] = field(default_factory=dict)
    holders: dict[str, set[str]] = field(default_factory=dict)
    calls: list[TransferCall] = field(default_factory=list)
    target: str = ""
    server: grpc.aio.Server | None = None

    def put(self, content: bytes | None = None) -> str:
        """Stores a blob (random bytes by default); its sha256."""
        content = content if content is not None else uuid.uuid4().bytes * 8
        digest = hashlib.sha256(content).hexdigest()
        self.sizes[digest] = len(content)
        self.holders.setdefault(digest, set())
        return digest

    def _note(self, method: str, context: grpc.aio.ServicerContext, holder: str = "") -> None:
        metadata = dict(context.invocation_metadata() or ())
        self.calls.append(
            TransferCall(method, peer_common_name(context), metadata.get("x-request-id", ""), holder)
        )

    def _blob(self, sha256: str) -> transfer_pb.Blob:
        return transfer_pb.Blob(
            sha256=sha256, size=self.sizes[sha256], reference_count=len(self.holders[sha256])
        )

    async def Stat(self, request: Any, context: grpc.aio.ServicerContext) -> transfer_pb.StatResponse:
        self._note("Stat", context)
        if request.sha256 not in self.sizes:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"blob {request.sha256} is not stored")
        return transfer_pb.StatResponse(blob=self._blob(request.sha256))

    async def AddReference(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> transfer_pb.AddReferenceResponse:
        self._note("AddReference", context, request.holder)
        if request.sha256 not in self.sizes:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"blob {request.sha256} is not stored")
        self.holders[request.sha256].add(request.holder)
        return transfer_pb.AddReferenceResponse(blob=self._blob(request.sha256))

    async def RemoveReference(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> transfer_pb.RemoveReferenceResponse:
        self._note("RemoveReference", context, request.holder)
        holders = self.holders.get(request.sha256, set())
        holders.discard(request.holder)
        deleted = request.delete_unreferenced and request.sha256 in self.sizes and not holders
        if deleted:
            del self.sizes[request.sha256], self.holders[request.sha256]
        return transfer_pb.RemoveReferenceResponse(deleted=deleted)

    async def stop(self) -> None:
        """Takes the store away (what catalog sees when transfer is down)."""
        if self.server is not None:
            await self.server.stop(0)
            self.server = None


def _tls(pki_dir: Path, name: str) -> TlsFiles:
    return TlsFiles(pki_dir / f"{name}.pem", pki_dir / f"{name}-key.pem", pki_dir / "ca.pem")


@asynccontextmanager
async def memory_transfer(pki_dir: Path) -> AsyncIterator[MemoryTransfer]:
    transfer = MemoryTransfer()
    server = grpc.aio.server()
    transfer_grpc.add_TransferServiceServicer_to_server(transfer, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(_tls(pki_dir, "transfer")))
    await server.start()
    transfer.server, transfer.target = server, f"127.0.0.1:{port}"
    try:
        yield transfer
    finally:
        await transfer.stop()


@dataclass
class CatalogStack:
    process: CatalogProcess
    port: int
    settings: CatalogSettings
    database_url: str

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self, name: str = "gateway") -> grpc.aio.Channel:
        """An mTLS channel presenting the certificate `name` from the test PKI."""
        return open_channel(self.target, self.settings.tls_files(name))


async def catalog_database(postgres: LocalPostgres) -> str:
    return await fresh_database(postgres, "catalog", migrations=(("services.catalog", SCHEMA),))


@asynccontextmanager
async def start_catalog(
    database_url: str,
    auth: AuthStack,
    *,
    transfer_target: str = "127.0.0.1:1",
    store: ArtifactStore | None = None,
    **overrides: Any,
) -> AsyncIterator[CatalogStack]:
    """The real catalog process on port 0, serving once it has auth's token keys."""
    values: dict[str, Any] = {
        "env": "dev",
        "database_url": database_url,
        "pki_dir": auth.pki_dir,
        "listen": "127.0.0.1:0",
        "drain_seconds": 0,
        "shutdown_grace_seconds": 1,
        "auth_target": auth.target,
        "transfer_target": transfer_target,
        "upstream_timeout_seconds": 5,
    }
    settings = CatalogSettings(**{**values, **overrides})
    process = build(settings, store)
    port = await process.start()
    try:
        await process.keys.wait_loaded(10)
        yield CatalogStack(process, port, settings, database_url)
    finally:
        await process.stop()


@dataclass(frozen=True)
class Users:
    """Access tokens of an admin, an operator and a viewer on one auth server."""

    admin: str
    operator: str
    viewer: str
    operator_name: str
    viewer_name: str


async def _login(stub: auth_grpc.AuthServiceStub, username: str, password: str) -> str:
    reply = await stub.Login(auth_pb.LoginRequest(username=username, password=password), timeout=10)
    return reply.tokens.access_token


async def make_users(auth: AuthStack) -> Users:
    """Logs the admin in and creates (then logs in) a fresh operator and viewer."""
    channel = auth.channel("gateway")
    try:
        stub = auth_grpc.AuthServiceStub(channel)
        admin = await _login(stub, "admin", ADMIN_PASSWORD)
        tokens = {}
        for role, value in (("operator", auth_pb.ROLE_OPERATOR), ("viewer", auth_pb.ROLE_VIEWER)):
            name, password = f"{role[0]}{uuid.uuid4().hex[:10]}", f"{role}-password-{uuid.uuid4().hex[:6]}"
            request = auth_pb.CreateUserRequest(username=name, role=value, password=password)
            await stub.CreateUser(request, metadata=bearer(admin), timeout=10)
            tokens[role] = (name, await _login(stub, name, password))
    finally:
        await channel.close()
    return Users(
        admin, tokens["operator"][1], tokens["viewer"][1], tokens["operator"][0], tokens["viewer"][0]
    )


async def audit_records(auth: AuthStack, admin_token: str, request_id: str) -> list[auth_pb.AuditRecord]:
    """auth's audit records written on behalf of one request."""
    channel = auth.channel("gateway")
    try:
        stub = auth_grpc.AuditServiceStub(channel)
        reply = await stub.ListAudit(
            auth_pb.ListAuditRequest(request_id=request_id), metadata=bearer(admin_token), timeout=10
        )
    finally:
        await channel.close()
    return list(reply.records)
