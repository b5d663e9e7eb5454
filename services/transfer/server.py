"""Wires the transfer process: database, storage, auth channel (keys, audit), use cases and the gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import grpc

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from services.kit.audit_client import AuditClient
from services.kit.db import Database
from services.kit.grpc_server import GrpcServer
from services.kit.logs import configure_logging
from services.kit.metrics import start_metrics_listener
from services.kit.telemetry import configure_tracing
from services.kit.tls import open_channel
from services.kit.token_keys import TokenKeys
from services.transfer.config import TransferSettings
from services.transfer.downloads import DownloadUseCases
from services.transfer.service import BlobUseCases, Core
from services.transfer.servicer import TransferServicer
from services.transfer.storage import LocalStorage
from services.transfer.uploads import UploadUseCases

__all__ = ["TransferProcess", "build", "serve"]


@dataclass
class TransferProcess:
    settings: TransferSettings
    server: GrpcServer
    db: Database
    storage: LocalStorage
    auth_channel: grpc.aio.Channel
    keys: TokenKeys
    core: Core
    _keys_task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> int:
        """Sweeps what a crash left in staging, serves, and starts fetching auth's token keys."""
        await asyncio.to_thread(self.storage.sweep_staging, self.settings.stale_upload_seconds)
        port = await self.server.start()
        self._keys_task = asyncio.create_task(self.keys.keep_loading())
        return port

    async def close(self) -> None:
        """Releases what the server used, once it has stopped taking calls."""
        if self._keys_task is not None:
            self._keys_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keys_task
        await self.auth_channel.close()
        await self.db.close()

    async def stop(self) -> None:
        await self.server.stop()
        await self.close()


def build(settings: TransferSettings) -> TransferProcess:
    db = Database(settings.require_database_url(), pool_size=settings.db_pool_size)
    storage = LocalStorage(settings.storage_root)
    auth_channel = open_channel(settings.auth_target, settings.tls_files())
    keys = TokenKeys(auth_channel)
    core = Core(db, storage, AuditClient(auth_channel), settings)
    server = GrpcServer(settings, verifier=lambda: keys.verifier, probe=db.ping)
    servicer = TransferServicer(BlobUseCases(core), UploadUseCases(core), DownloadUseCases(core))
    server.add(
        pb_grpc.add_TransferServiceServicer_to_server,
        servicer,
        pb.DESCRIPTOR.services_by_name["TransferService"],
    )
    return TransferProcess(settings, server, db, storage, auth_channel, keys, core)


async def serve(settings: TransferSettings) -> None:
    configure_logging("transfer", settings.log_level)
    configure_tracing("transfer")
    start_metrics_listener(settings.metrics_listen)
    process = build(settings)
    await process.start()
    await process.server.run_until_signalled(on_stopped=process.close)
