"""The download use case: a header, then the blob's bytes from an offset, one chunk in memory at a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography import x509

from services.kit.audit_client import DENIED
from services.kit.context import AGENT, USER_ROLES, current_call, require_caller
from services.kit.errors import InvalidArgument, NotFound, OutOfRange, PermissionDenied, Unavailable
from services.kit.grants import verify_grant
from services.kit.pki import REPLACED_CERTIFICATE, replaced_by_enrollment
from services.transfer.metrics import ACTIVE_STREAMS, DOWNLOAD, TRANSFER_BYTES
from services.transfer.models import Blob
from services.transfer.nodes import NodeStatuses
from services.transfer.service import Core, check_sha256

__all__ = ["DownloadHeader", "DownloadUseCases"]

log = logging.getLogger("convoy.transfer")


@dataclass(frozen=True)
class DownloadHeader:
    sha256: str
    total_size: int
    chunk_size: int
    offset: int


def _read_at(handle: BinaryIO, position: int, size: int) -> bytes:
    handle.seek(position)
    return handle.read(size)


class DownloadUseCases:
    def __init__(
        self, core: Core, grant_ca: x509.Certificate | None = None, nodes: NodeStatuses | None = None
    ) -> None:
        # The service CA: grants are valid only when signed with a scheduler certificate it issued.
        # `nodes`: auth's word on each node (revoked, re-enrolled); without it nodes are refused.
        self.core, self._grant_ca, self._nodes = core, grant_ca, nodes

    async def download(
        self, sha256: str, offset: int, grant: str = "", certificate: x509.Certificate | None = None
    ) -> AsyncIterator[DownloadHeader | bytes]:
        """Yields the header first, then chunks; every check happens before the header is sent.
        `certificate`: the caller's verified client certificate."""
        await self._authorize(sha256, grant, certificate)
        if offset < 0:
            raise InvalidArgument("offset must not be negative")
        blob, handle = await self._open(check_sha256(sha256), offset)
        ACTIVE_STREAMS.labels(DOWNLOAD).inc()
        try:
            yield DownloadHeader(blob.sha256, blob.size, self.core.settings.chunk_bytes, offset)
            async for chunk in self._chunks(blob, handle, offset):
                yield chunk
        finally:
            # Synchronous: it must also run when the client goes away and the stream is cancelled.
            handle.close()
            ACTIVE_STREAMS.labels(DOWNLOAD).dec()

    async def _authorize(self, sha256: str, grant: str, certificate: x509.Certificate | None) -> None:
        """People and services as for every read; a node only with the scheduler's grant for this blob,
        naming the node of its certificate, and only while auth has it enrolled, not revoked, and this
        certificate is not one of an earlier enrollment of the node id (grants live an hour, certificates
        days). A node's refusal is audited: it may be a stolen certificate probing for artifacts."""
        peer = current_call().peer
        if peer is None or peer.kind != AGENT:
            require_caller(*USER_ROLES)
            return
        try:
            if self._grant_ca is None:
                raise PermissionDenied("this transfer server cannot verify download grants")
            verify_grant(grant, trusted_ca=self._grant_ca, node_id=peer.subject, sha256=sha256)
            await self._check_node(peer.subject, certificate)
        except PermissionDenied as exc:
            try:
                await self.core.audit.record(
                    "blob.download", f"blob:{sha256[:64]}", result=DENIED, reason=exc.message
                )
            except Unavailable:
                pass  # the node is refused either way; record() has logged the loss
            raise

    async def _check_node(self, node_id: str, certificate: x509.Certificate | None) -> None:
        if self._nodes is None:
            raise PermissionDenied("this transfer server cannot check nodes with auth")
        status = await self._nodes.get(node_id)
        if not status.enrolled:
            raise PermissionDenied("this node is not enrolled")
        if status.revoked:
            raise PermissionDenied("this node is revoked")
        if certificate is None or replaced_by_enrollment(certificate, status.enrolled_at):
            raise PermissionDenied(REPLACED_CERTIFICATE)

    async def _chunks(self, blob: Blob, handle: BinaryIO, offset: int) -> AsyncIterator[bytes]:
        chunk_size, position = self.core.settings.chunk_bytes, offset
        while position < blob.size:
            chunk = await asyncio.to_thread(_read_at, handle, position, min(chunk_size, blob.size - position))
            if not chunk:
                log.error("blob %s is shorter on disk than its recorded %d bytes", blob.sha256, blob.size)
                raise Unavailable(f"blob {blob.sha256} is damaged in storage; it cannot be served")
            position += len(chunk)
            TRANSFER_BYTES.labels(DOWNLOAD).inc(len(chunk))
            yield chunk

    async def _open(self, sha256: str, offset: int) -> tuple[Blob, BinaryIO]:
        """The blob's row and its open bytes. The file is opened before the row is read: a Delete that ran
        first then shows as NOT_FOUND, and one that runs later cannot take the bytes from under the
        stream (the open handle keeps them readable to the end)."""
        handle = await asyncio.to_thread(self._try_open, sha256)
        try:
            blob = await self._find(sha256, offset)
            if handle is None:
                log.error("blob %s has a row but no file in storage", sha256)
                raise Unavailable(f"blob {sha256} is missing from storage; it cannot be served")
            return blob, handle
        except BaseException:
            if handle is not None:
                handle.close()
            raise

    def _try_open(self, sha256: str) -> BinaryIO | None:
        try:
            return self.core.storage.open_read(sha256)
        except FileNotFoundError:
            return None

    async def _find(self, sha256: str, offset: int) -> Blob:
        async with self.core.db.transaction() as session:
            blob = await session.get(Blob, sha256)
        if blob is None:
            raise NotFound(f"blob {sha256} is not stored")
        if offset > blob.size:
            raise OutOfRange(f"offset {offset} is beyond the end of blob {sha256} ({blob.size} bytes)")
        return blob
