"""The artifact store as catalog sees it: references on transfer's blobs, one per package."""

from __future__ import annotations

import logging
from typing import Protocol

import grpc

from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from convoy.transfer.v1 import transfer_pb2_grpc as transfer_grpc
from services.kit.audit_client import outgoing_metadata
from services.kit.errors import DomainError, FailedPrecondition, Unavailable

__all__ = ["ArtifactStore", "TransferArtifacts", "package_holder"]

log = logging.getLogger("convoy.catalog.artifacts")

_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def package_holder(package_id: object) -> str:
    """How a package names itself as the holder of its artifact in transfer."""
    return f"catalog.package:{package_id}"


class ArtifactStore(Protocol):
    async def add_reference(self, sha256: str, holder: str) -> int:
        """Records that `holder` needs the blob; returns the blob's size. FailedPrecondition if absent."""
        ...

    async def remove_reference(self, sha256: str, holder: str, delete_unreferenced: bool) -> None:
        """Drops the reference; with `delete_unreferenced`, the blob goes with its last reference."""
        ...


class TransferArtifacts:
    """ArtifactStore over transfer's gRPC API, called with catalog's own certificate."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: float = 10.0) -> None:
        self._stub = transfer_grpc.TransferServiceStub(channel)
        self._timeout = timeout

    async def add_reference(self, sha256: str, holder: str) -> int:
        request = transfer_pb.AddReferenceRequest(sha256=sha256, holder=holder)
        try:
            reply = await self._stub.AddReference(
                request, metadata=outgoing_metadata(), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, sha256) from exc
        return reply.blob.size

    async def remove_reference(self, sha256: str, holder: str, delete_unreferenced: bool) -> None:
        request = transfer_pb.RemoveReferenceRequest(
            sha256=sha256, holder=holder, delete_unreferenced=delete_unreferenced
        )
        try:
            await self._stub.RemoveReference(request, metadata=outgoing_metadata(), timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise _mapped(exc, sha256) from exc


def _mapped(exc: grpc.aio.AioRpcError, sha256: str) -> DomainError:
    code = exc.code()
    if code == grpc.StatusCode.NOT_FOUND:
        return FailedPrecondition(f"artifact {sha256} is not in the store; upload it first")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(f"the artifact store refused: {exc.details()}")
    if code in _UNREACHABLE:
        log.warning("transfer is unreachable: %s", code.name)
        return Unavailable("the artifact store is unavailable; retry shortly")
    # Anything else is a fault between the services, not the caller's: say so without leaking details.
    log.error("transfer answered %s: %s", code.name, exc.details())
    return Unavailable(f"the artifact store could not be used ({code.name}); retry later")
