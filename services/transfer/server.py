"""Wires the transfer process: the shared service runtime, storage, use cases and servicer."""

from __future__ import annotations

import asyncio
import logging

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from services.kit.runtime import ServiceRuntime
from services.transfer.config import TransferSettings
from services.transfer.downloads import DownloadUseCases
from services.transfer.service import BlobUseCases, Core
from services.transfer.servicer import TransferServicer
from services.transfer.storage import LocalStorage
from services.transfer.uploads import UploadUseCases

__all__ = ["TransferProcess", "build", "serve"]

log = logging.getLogger("convoy.transfer")


class TransferProcess(ServiceRuntime):
    def __init__(self, settings: TransferSettings) -> None:
        super().__init__(settings)
        self.storage = LocalStorage(settings.storage_root)
        self.core = Core(self.db, self.storage, self.audit, settings)
        servicer = TransferServicer(
            BlobUseCases(self.core), UploadUseCases(self.core), DownloadUseCases(self.core)
        )
        self.server.add(
            pb_grpc.add_TransferServiceServicer_to_server,
            servicer,
            pb.DESCRIPTOR.services_by_name["TransferService"],
        )

    async def start(self) -> int:
        """Sweeps what a crash left in staging before taking uploads, and again every so often after."""
        settings: TransferSettings = self.settings  # type: ignore[assignment]
        await asyncio.to_thread(self.storage.sweep_staging, settings.stale_upload_seconds)
        self.run_in_background(self._sweep_staging_forever(settings))
        return await super().start()

    async def _sweep_staging_forever(self, settings: TransferSettings) -> None:
        # A live upload touches its temp file with every chunk, so only abandoned ones grow this old.
        while True:
            await asyncio.sleep(settings.sweep_interval_seconds)
            try:
                await asyncio.to_thread(self.storage.sweep_staging, settings.stale_upload_seconds)
            except OSError as exc:
                log.warning("could not sweep the staging directory: %s", exc)


def build(settings: TransferSettings) -> TransferProcess:
    return TransferProcess(settings)


async def serve(settings: TransferSettings) -> None:
    await build(settings).serve()
