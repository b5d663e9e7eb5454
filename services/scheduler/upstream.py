"""The scheduler's calls to catalog and inventory, made with its own certificate (a service acting for
itself), their failures mapped to domain errors with the upstream's reason where it is the caller's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.catalog.v1 import catalog_pb2_grpc as catalog_grpc
from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inventory_grpc
from services.kit.audit_client import outgoing_metadata
from services.kit.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound, Unavailable

__all__ = ["CatalogClient", "InventoryClient", "deployment_holder", "policy_holder", "schedule_holder"]

log = logging.getLogger("convoy.scheduler.upstream")

_PAGE = 500


def deployment_holder(deployment_id: object) -> str:
    """How a deployment names itself as a holder of its packages in the catalog."""
    return f"scheduler.deployment:{deployment_id}"


def schedule_holder(schedule_id: object) -> str:
    """How a schedule holds its package for all of its runs."""
    return f"scheduler.schedule:{schedule_id}"


def policy_holder(policy_id: object) -> str:
    """How a sync policy holds the packages of the deployments it makes: one stable name per policy, so a
    retried pass adds nothing new."""
    return f"scheduler.policy:{policy_id}"


def _mapped(exc: grpc.aio.AioRpcError, service: str) -> DomainError:
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(details)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(details)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(details)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        log.warning("%s is unreachable: %s", service, code.name)
        return Unavailable(f"{service} is unavailable; retry shortly")
    log.error("%s answered %s: %s", service, code.name, details)
    return Unavailable(f"{service} could not be used ({code.name}); retry later")


async def _every_page(
    method: Callable[..., Awaitable[Any]], request: Any, field: str, *, service: str, timeout: float
) -> list[Any]:
    """Every item of a paged listing: `request` is sent again with each next page token."""
    items: list[Any] = []
    request.page_size = _PAGE
    while True:
        try:
            reply = await method(request, metadata=outgoing_metadata(), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, service) from exc
        items.extend(getattr(reply, field))
        if not reply.next_page_token:
            return items
        request.page_token = reply.next_page_token


class CatalogClient:
    def __init__(self, channel: grpc.aio.Channel, *, timeout: float) -> None:
        self._stub = catalog_grpc.CatalogServiceStub(channel)
        self._timeout = timeout

    async def get_package(self, package_id: str) -> catalog_pb.Package:
        try:
            reply = await self._stub.GetPackage(
                catalog_pb.GetPackageRequest(id=package_id),
                metadata=outgoing_metadata(),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, "the catalog") from exc
        return reply.package

    async def versions(self, software_name: str, format: int) -> list[catalog_pb.Package]:
        """Every package of the software in the format, newest first."""
        request = catalog_pb.ListVersionsRequest(software_name=software_name, format=format)  # type: ignore[arg-type]
        return await _every_page(
            self._stub.ListVersions, request, "packages", service="the catalog", timeout=self._timeout
        )

    async def add_reference(self, package_id: str, holder: str) -> None:
        request = catalog_pb.AddReferenceRequest(package_id=package_id, holder=holder)
        try:
            await self._stub.AddReference(request, metadata=outgoing_metadata(), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, "the catalog") from exc


class InventoryClient:
    def __init__(self, channel: grpc.aio.Channel, *, timeout: float) -> None:
        self._stub = inventory_grpc.InventoryServiceStub(channel)
        self._timeout = timeout

    async def resolve(self, target: inventory_pb.Target) -> list[inventory_pb.Server]:
        request = inventory_pb.ResolveTargetsRequest(target=target)
        try:
            reply = await self._stub.ResolveTargets(
                request, metadata=outgoing_metadata(), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, "the inventory") from exc
        return list(reply.servers)

    async def groups(self) -> list[inventory_pb.Group]:
        """Every group (with its maintenance window, when it has one), by name."""
        request = inventory_pb.ListGroupsRequest()
        return await _every_page(
            self._stub.ListGroups, request, "groups", service="the inventory", timeout=self._timeout
        )

    async def installed(self, name: str) -> dict[str, str]:
        """Server id → installed version of the software, over the whole fleet."""
        return {server_id: item.version for server_id, item in (await self.installed_software(name)).items()}

    async def installed_software(self, name: str) -> dict[str, inventory_pb.InstalledSoftware]:
        """Server id → what inventory knows of the software there (version, package family)."""
        request = inventory_pb.ListInstalledRequest(name=name)
        items = await _every_page(
            self._stub.ListInstalled, request, "installed", service="the inventory", timeout=self._timeout
        )
        return {item.server_id: item.software for item in items}
