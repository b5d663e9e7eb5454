"""Wires the catalog process: the shared service runtime, the transfer client, use cases and servicer."""

from __future__ import annotations

from convoy.catalog.v1 import catalog_pb2 as pb
from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from services.catalog.artifacts import ArtifactStore, TransferArtifacts
from services.catalog.config import CatalogSettings
from services.catalog.listing import CatalogQueries
from services.catalog.service import Catalog, PackageUseCases
from services.catalog.servicer import CatalogServicer
from services.kit.runtime import ServiceRuntime

__all__ = ["CatalogProcess", "build", "serve"]


class CatalogProcess(ServiceRuntime):
    def __init__(self, settings: CatalogSettings, store: ArtifactStore | None = None) -> None:
        """`store` replaces transfer (tests register their own ArtifactStore)."""
        super().__init__(settings)
        if store is None:
            channel = self.channel(settings.transfer_target)
            store = TransferArtifacts(channel, timeout=settings.upstream_timeout_seconds)
        catalog = Catalog(self.db, self.audit, store)
        self.server.add(
            pb_grpc.add_CatalogServiceServicer_to_server,
            CatalogServicer(PackageUseCases(catalog), CatalogQueries(catalog)),
            pb.DESCRIPTOR.services_by_name["CatalogService"],
        )


def build(settings: CatalogSettings, store: ArtifactStore | None = None) -> CatalogProcess:
    return CatalogProcess(settings, store)


async def serve(settings: CatalogSettings) -> None:
    await build(settings).serve()
