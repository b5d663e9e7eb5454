"""Wires the inventory process: the shared service runtime plus inventory's use cases and servicer."""

from __future__ import annotations

from convoy.inventory.v1 import inventory_pb2 as pb
from convoy.inventory.v1 import inventory_pb2_grpc as pb_grpc
from services.inventory.config import InventorySettings
from services.inventory.groups import GroupUseCases
from services.inventory.reports import ReportUseCases
from services.inventory.servers import ServerUseCases
from services.inventory.service import Core
from services.inventory.servicer import InventoryServicer
from services.inventory.stats import refresh_server_stats
from services.inventory.targets import TargetUseCases
from services.kit.runtime import ServiceRuntime

__all__ = ["InventoryProcess", "build", "serve"]


class InventoryProcess(ServiceRuntime):
    def __init__(self, settings: InventorySettings) -> None:
        super().__init__(settings)
        self.settings: InventorySettings = settings
        self.core = Core(self.db, self.audit)
        servicer = InventoryServicer(
            ServerUseCases(self.core),
            GroupUseCases(self.core),
            ReportUseCases(self.core),
            TargetUseCases(self.core),
        )
        self.server.add(
            pb_grpc.add_InventoryServiceServicer_to_server,
            servicer,
            pb.DESCRIPTOR.services_by_name["InventoryService"],
        )

    async def start(self) -> int:
        """Serves, and keeps the servers gauge up to date for the life of the process."""
        self.run_in_background(refresh_server_stats(self.db, self.settings.stats_seconds))
        return await super().start()


def build(settings: InventorySettings) -> InventoryProcess:
    return InventoryProcess(settings)


async def serve(settings: InventorySettings) -> None:
    await build(settings).serve()
