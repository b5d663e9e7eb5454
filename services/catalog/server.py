"""Wires the catalog process: database, auth and transfer channels, use cases, servicer, gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import grpc

from convoy.catalog.v1 import catalog_pb2 as pb
from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from services.catalog.artifacts import ArtifactStore, TransferArtifacts
from services.catalog.config import CatalogSettings
from services.catalog.listing import CatalogQueries
from services.catalog.service import Catalog, PackageUseCases
from services.catalog.servicer import CatalogServicer
from services.kit.audit_client import AuditClient
from services.kit.db import Database
from services.kit.grpc_server import GrpcServer
from services.kit.logs import configure_logging
from services.kit.metrics import start_metrics_listener
from services.kit.telemetry import configure_tracing
from services.kit.tls import open_channel
from services.kit.token_keys import TokenKeys

__all__ = ["CatalogProcess", "build", "serve"]


@dataclass
class CatalogProcess:
    server: GrpcServer
    db: Database
    keys: TokenKeys
    channels: list[grpc.aio.Channel]
    _keys_task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> int:
        """Serves at once; token keys load in the background (auth may come up later)."""
        port = await self.server.start()
        self._keys_task = asyncio.create_task(self.keys.keep_loading())
        return port

    async def stop(self) -> None:
        await self.server.stop()
        await self.close()

    async def close(self) -> None:
        """Releases what the server used once it no longer takes calls."""
        if self._keys_task is not None:
            self._keys_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keys_task
        for channel in self.channels:
            await channel.close()
        await self.db.close()


def build(settings: CatalogSettings, store: ArtifactStore | None = None) -> CatalogProcess:
    """The process; `store` replaces transfer (tests register their own ArtifactStore)."""
    tls = settings.tls_files()
    auth_channel = open_channel(settings.auth_target, tls)
    channels = [auth_channel]
    if store is None:
        transfer_channel = open_channel(settings.transfer_target, tls)
        channels.append(transfer_channel)
        store = TransferArtifacts(transfer_channel, timeout=settings.upstream_timeout_seconds)
    keys = TokenKeys(auth_channel, timeout=settings.upstream_timeout_seconds)
    db = Database(settings.require_database_url(), pool_size=settings.db_pool_size)
    catalog = Catalog(db, AuditClient(auth_channel, timeout=settings.upstream_timeout_seconds), store)
    server = GrpcServer(settings, verifier=lambda: keys.verifier, probe=db.ping)
    server.add(
        pb_grpc.add_CatalogServiceServicer_to_server,
        CatalogServicer(PackageUseCases(catalog), CatalogQueries(catalog)),
        pb.DESCRIPTOR.services_by_name["CatalogService"],
    )
    return CatalogProcess(server, db, keys, channels)


async def serve(settings: CatalogSettings) -> None:
    configure_logging("catalog", settings.log_level)
    configure_tracing("catalog")
    start_metrics_listener(settings.metrics_listen)
    process = build(settings)
    await process.start()
    await process.server.run_until_signalled(on_stopped=process.close)
