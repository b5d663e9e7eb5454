"""Wires the inventory process: database, auth channel (keys + audit), use cases, servicer, gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import grpc

from convoy.inventory.v1 import inventory_pb2 as pb
from convoy.inventory.v1 import inventory_pb2_grpc as pb_grpc
from services.inventory.config import InventorySettings
from services.inventory.groups import GroupUseCases
from services.inventory.reports import ReportUseCases
from services.inventory.servers import ServerUseCases
from services.inventory.service import Core
from services.inventory.servicer import InventoryServicer
from services.inventory.targets import TargetUseCases
from services.kit.audit_client import AuditClient
from services.kit.db import Database
from services.kit.grpc_server import GrpcServer
from services.kit.logs import configure_logging
from services.kit.metrics import start_metrics_listener
from services.kit.telemetry import configure_tracing
from services.kit.tls import open_channel
from services.kit.token_keys import TokenKeys

__all__ = ["InventoryProcess", "build", "serve"]


@dataclass
class InventoryProcess:
    server: GrpcServer
    db: Database
    keys: TokenKeys
    auth_channel: grpc.aio.Channel
    core: Core
    _key_loader: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> int:
        """Serves, and keeps auth's token keys loaded in the background; returns the port."""
        port = await self.server.start()
        self._key_loader = asyncio.create_task(self.keys.keep_loading())
        return port

    async def stop(self) -> None:
        await self.server.stop()
        await self.close()

    async def close(self) -> None:
        """Releases what outlives the gRPC server: the key loader, the auth channel, the database."""
        if self._key_loader is not None:
            self._key_loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._key_loader
            self._key_loader = None
        await self.auth_channel.close()
        await self.db.close()


def build(settings: InventorySettings) -> InventoryProcess:
    db = Database(settings.require_database_url(), pool_size=settings.db_pool_size)
    auth_channel = open_channel(settings.auth_target, settings.tls_files())
    keys = TokenKeys(auth_channel, timeout=settings.auth_timeout_seconds)
    core = Core(db, AuditClient(auth_channel, timeout=settings.auth_timeout_seconds))
    server = GrpcServer(settings, verifier=lambda: keys.verifier, probe=db.ping)
    servicer = InventoryServicer(
        ServerUseCases(core), GroupUseCases(core), ReportUseCases(core), TargetUseCases(core)
    )
    server.add(
        pb_grpc.add_InventoryServiceServicer_to_server,
        servicer,
        pb.DESCRIPTOR.services_by_name["InventoryService"],
    )
    return InventoryProcess(server, db, keys, auth_channel, core)


async def serve(settings: InventorySettings) -> None:
    configure_logging("inventory", settings.log_level)
    configure_tracing("inventory")
    start_metrics_listener(settings.metrics_listen)
    process = build(settings)
    await process.start()
    await process.server.run_until_signalled(on_stopped=process.close)
