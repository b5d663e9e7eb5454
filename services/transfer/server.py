"""Wires the transfer process: the shared service runtime, storage, use cases and servicer."""

from __future__ import annotations

import asyncio
import logging

from cryptography import x509

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from services.kit.runtime import ServiceRuntime
from services.kit.tls import load_node_ca
from services.transfer.config import TransferSettings
from services.transfer.downloads import DownloadUseCases
from services.transfer.nodes import NodeStatuses
from services.transfer.service import BlobUseCases, Core
from services.transfer.servicer import TransferServicer
from services.transfer.storage import LocalStorage
from services.transfer.uploads import UploadUseCases

__all__ = ["TransferProcess", "build", "serve"]

log = logging.getLogger("convoy.transfer")


class TransferProcess(ServiceRuntime):
    def __init__(self, settings: TransferSettings) -> None:
        # Agents download too: the port accepts node certificates next to services' when there is a node CA.
        node_ca = load_node_ca(settings)
        service_ca = _grant_ca(settings)
        super().__init__(settings)
        if node_ca is not None:
            self.server.accept_nodes(node_ca)
        self.storage = LocalStorage(settings.storage_root)
        self.core = Core(self.db, self.storage, self.audit, settings)
        nodes = NodeStatuses(
            self.auth_channel, timeout=settings.upstream_timeout_seconds, ttl=settings.node_status_seconds
        )
        servicer = TransferServicer(
            BlobUseCases(self.core), UploadUseCases(self.core), DownloadUseCases(self.core, service_ca, nodes)
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


def _grant_ca(settings: TransferSettings) -> x509.Certificate | None:
    """The service CA, which vouches for the scheduler that signs download grants (None without TLS)."""
    files = settings.tls_files()
    return None if files is None else x509.load_pem_x509_certificate(files.ca.read_bytes())


def build(settings: TransferSettings) -> TransferProcess:
    return TransferProcess(settings)


async def serve(settings: TransferSettings) -> None:
    await build(settings).serve()
