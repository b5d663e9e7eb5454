"""gRPC channels to the services, and the metadata every forwarded call carries."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from convoy.catalog.v1 import catalog_pb2_grpc as catalog_grpc
from convoy.inventory.v1 import inventory_pb2_grpc as inventory_grpc
from convoy.scheduler.v1 import scheduler_pb2_grpc as scheduler_grpc
from convoy.transfer.v1 import transfer_pb2_grpc as transfer_grpc
from services.gateway.config import GatewaySettings
from services.kit.tls import open_channel
from services.kit.token_keys import TokenKeys
from services.kit.tokens import TokenVerifier

__all__ = ["CallerInfo", "Upstreams"]

log = logging.getLogger("convoy.gateway")


@dataclass(frozen=True)
class CallerInfo:
    """What the gateway forwards about the HTTP caller."""

    request_id: str
    client_address: str
    access_token: str = ""

    def metadata(self, *, with_token: bool = True) -> tuple[tuple[str, str], ...]:
        items = [("x-request-id", self.request_id), ("x-client-address", self.client_address)]
        if with_token and self.access_token:
            items.append(("authorization", f"Bearer {self.access_token}"))
        return tuple(items)


class Upstreams:
    """Holds one channel per service and the token verifier built from auth's published keys."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.auth_channel = open_channel(settings.auth_target, settings.tls_files())
        self.auth = auth_grpc.AuthServiceStub(self.auth_channel)
        self.audit = auth_grpc.AuditServiceStub(self.auth_channel)
        self.enrollment = auth_grpc.EnrollmentServiceStub(self.auth_channel)
        tls = settings.tls_files()
        self.channels = {
            "auth": self.auth_channel,
            "inventory": open_channel(settings.inventory_target, tls),
            "catalog": open_channel(settings.catalog_target, tls),
            "transfer": open_channel(settings.transfer_target, tls),
            "scheduler": open_channel(settings.scheduler_target, tls),
        }
        self.inventory = inventory_grpc.InventoryServiceStub(self.channels["inventory"])
        self.catalog = catalog_grpc.CatalogServiceStub(self.channels["catalog"])
        self.transfer = transfer_grpc.TransferServiceStub(self.channels["transfer"])
        self.scheduler = scheduler_grpc.SchedulerServiceStub(self.channels["scheduler"])
        self._health = {name: health_pb2_grpc.HealthStub(ch) for name, ch in self.channels.items()}
        self.keys = TokenKeys(self.auth_channel, timeout=settings.upstream_timeout_seconds)

    @property
    def timeout(self) -> float:
        return self.settings.upstream_timeout_seconds

    @property
    def verifier(self) -> TokenVerifier | None:
        return self.keys.verifier

    async def check(self) -> dict[str, str]:
        """Health of every upstream, as the readiness endpoint reports it."""
        results: dict[str, str] = {}
        for name, stub in self._health.items():
            results[name] = await self._check_one(stub)
        results["token_keys"] = "ok" if self.verifier else "not loaded"
        return results

    async def _check_one(self, stub: health_pb2_grpc.HealthStub) -> str:
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(), timeout=self.settings.readiness_timeout_seconds
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code().name.lower()
        return "ok" if reply.status == health_pb2.HealthCheckResponse.SERVING else "not serving"

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
