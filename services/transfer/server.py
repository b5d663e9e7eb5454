"""Wires the transfer process: the shared service runtime, storage, use cases and servicer."""

from __future__ import annotations

import asyncio
import logging

from cryptography import x509

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from services.kit.pki import check_distinct_cas
from services.kit.runtime import ServiceRuntime
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
        client_roots, service_ca = _client_trust(settings)
        super().__init__(settings)
        if client_roots is not None:
            self.server.trust_client_roots(client_roots)
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


def _client_trust(settings: TransferSettings) -> tuple[bytes | None, x509.Certificate | None]:
    """Agents download too: the port accepts certificates of the service CA and of the node CA, when
    there is one. Also returns the service CA, which vouches for the scheduler that signs download grants."""
    files = settings.tls_files()
    if files is None:
        return None, None
    service_ca_pem = files.ca.read_bytes()
    service_ca = x509.load_pem_x509_certificate(service_ca_pem)
    if settings.node_ca is None:
        return None, service_ca
    try:
        node_ca_pem = settings.node_ca.read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read the node CA {settings.node_ca}: {exc.strerror}") from exc
    # The same CA twice would let every service certificate pass for a node (and the reverse).
    check_distinct_cas(service_ca, x509.load_pem_x509_certificate(node_ca_pem))
    return service_ca_pem.rstrip(b"\n") + b"\n" + node_ca_pem, service_ca


def build(settings: TransferSettings) -> TransferProcess:
    return TransferProcess(settings)


async def serve(settings: TransferSettings) -> None:
    await build(settings).serve()
