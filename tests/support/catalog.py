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

from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from convoy.transfer.v1 import transfer_pb2_grpc as transfer_grpc
from devstack.postgres import LocalPostgres
from services.catalog.artifacts import ArtifactStore
from services.catalog.config import CatalogSettings
from services.catalog.models import SCHEMA
from services.catalog.server import CatalogProcess, build
from services.kit.tls import peer_common_name, server_credentials
from tests.support.auth_process import tls_files
from tests.support.stack import AuthStack, ServiceStack, fresh_database, service_settings

__all__ = [
    "MemoryTransfer",
    "memory_transfer",
    "CatalogStack",
    "start_catalog",
    "catalog_database",
    "TransferCall",
]


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


@asynccontextmanager
async def memory_transfer(pki_dir: Path) -> AsyncIterator[MemoryTransfer]:
    transfer = MemoryTransfer()
    server = grpc.aio.server()
    transfer_grpc.add_TransferServiceServicer_to_server(transfer, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(tls_files(pki_dir, "transfer")))
    await server.start()
    transfer.server, transfer.target = server, f"127.0.0.1:{port}"
    try:
        yield transfer
    finally:
        await transfer.stop()


@dataclass
class CatalogStack(ServiceStack):
    process: CatalogProcess
    port: int
    settings: CatalogSettings
    database_url: str


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
        "auth_target": auth.target,
        "transfer_target": transfer_target,
        "upstream_timeout_seconds": 5,
    }
    settings = CatalogSettings(**service_settings(database_url, auth.pki_dir, **{**values, **overrides}))
    process = build(settings, store)
    port = await process.start()
    try:
        await process.keys.wait_loaded(10)
        yield CatalogStack(process, port, settings, database_url)
    finally:
        await process.stop()
