"""The upload use case: receive into a temp file, validate and inspect, then store once, atomically."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.kit.context import WRITE_ROLES
from services.kit.db import AsyncSession
from services.kit.errors import InvalidArgument
from services.transfer.errors import Rejected
from services.transfer.inspection import Inspection, inspect_artifact
from services.transfer.metrics import ACTIVE_STREAMS, TRANSFER_BYTES, UPLOAD, UPLOAD_REJECTIONS
from services.transfer.models import FORMATS, Blob
from services.transfer.service import BlobView, Core, lock_blob
from services.transfer.storage import StagedFile, Storage

__all__ = ["UploadMetadata", "UploadResult", "UploadUseCases"]

log = logging.getLogger("convoy.transfer")

_MAX_TEXT = 255


@dataclass(frozen=True)
class UploadMetadata:
    filename: str
    # "" lets the content decide; otherwise one of FORMATS, which the content must match.
    declared_format: str = ""
    # 0 when unknown.
    size: int = 0
    content_type: str = ""


@dataclass(frozen=True)
class UploadResult:
    blob: BlobView
    inspection: Inspection
    created: bool


def _check_metadata(metadata: UploadMetadata, max_bytes: int) -> None:
    for name in ("filename", "content_type"):
        value = getattr(metadata, name)
        if len(value) > _MAX_TEXT or not value.isprintable():
            raise InvalidArgument(f"{name} must be at most {_MAX_TEXT} printable characters")
    if metadata.declared_format and metadata.declared_format not in FORMATS:
        raise InvalidArgument(f"declared_format must be one of {', '.join(FORMATS)} (or unspecified)")
    if metadata.size < 0:
        raise InvalidArgument("size must not be negative (0 means unknown)")
    if metadata.size > max_bytes:
        raise Rejected(
            "too_large", f"the declared size {metadata.size} exceeds the upload limit of {max_bytes} bytes"
        )


def _check_declared(metadata: UploadMetadata, inspection: Inspection) -> None:
    declared = metadata.declared_format
    if declared and declared != inspection.format:
        raise Rejected(
            "format_mismatch", f"declared {declared} but the content is a {inspection.format} package"
        )


def _intact(storage: Storage, sha256: str, size: int) -> bool:
    try:
        return storage.size(sha256) == size
    except FileNotFoundError:
        return False


class UploadUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def upload(self, metadata: UploadMetadata, chunks: AsyncIterator[bytes]) -> UploadResult:
        """Nothing is visible until the bytes are complete and valid; a failure leaves no file and no row."""
        await self.core.audit.authorize("blob.upload", "blobs", *WRITE_ROLES)
        ACTIVE_STREAMS.labels(UPLOAD).inc()
        staged: StagedFile | None = None
        try:
            _check_metadata(metadata, self.core.settings.max_upload_bytes)
            # Not in a worker thread: one cancelled (client gone, server stopping) while it creates the
            # file would leave a temp file nobody removes. Creating an empty file does not block for long.
            staged = self.core.storage.stage()
            await self._receive(staged, metadata, chunks)
            inspection = await asyncio.to_thread(inspect_artifact, staged.path, self.core.limits)
            _check_declared(metadata, inspection)
            return await self._store(staged, metadata, inspection)
        except Rejected as exc:
            UPLOAD_REJECTIONS.labels(exc.reason).inc()
            raise
        finally:
            if staged is not None:
                staged.discard()
            ACTIVE_STREAMS.labels(UPLOAD).dec()

    async def _receive(
        self, staged: StagedFile, metadata: UploadMetadata, chunks: AsyncIterator[bytes]
    ) -> None:
        limit, declared = self.core.settings.max_upload_bytes, metadata.size
        received = 0
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise Rejected(
                    "too_large", f"the upload exceeds the limit of {limit} bytes (max_upload_bytes)"
                )
            if declared and received > declared:
                raise Rejected(
                    "size_mismatch", f"the upload has more bytes than its declared size {declared}"
                )
            await asyncio.to_thread(staged.write, chunk)
            TRANSFER_BYTES.labels(UPLOAD).inc(len(chunk))
        if declared and received != declared:
            raise Rejected("size_mismatch", f"the upload declared {declared} bytes but sent {received}")
        if received == 0:
            raise Rejected("empty", "the upload has no content")
        await asyncio.to_thread(staged.finish)

    async def _store(
        self, staged: StagedFile, metadata: UploadMetadata, inspection: Inspection
    ) -> UploadResult:
        async with self.core.db.transaction() as session:
            existing = await lock_blob(session, staged.sha256)
            if existing is not None:
                view = await self._reuse(session, existing, staged)
                return UploadResult(view, inspection, created=False)
            blob = await self._insert(session, staged, metadata, inspection)
        return UploadResult(BlobView(blob, 0), inspection, created=True)

    async def _reuse(self, session: AsyncSession, existing: Blob, staged: StagedFile) -> BlobView:
        """The stored blob these bytes already are; its file is put back if it went missing or short."""
        storage, sha256 = self.core.storage, staged.sha256
        if not await asyncio.to_thread(_intact, storage, sha256, existing.size):
            log.warning("blob %s was missing or damaged in storage; restored from an upload", sha256)
            await asyncio.to_thread(storage.commit, staged, sha256)
        return await self.core.view(session, existing)

    async def _insert(
        self, session: AsyncSession, staged: StagedFile, metadata: UploadMetadata, inspection: Inspection
    ) -> Blob:
        core, sha256 = self.core, staged.sha256
        blob = Blob(
            sha256=sha256,
            size=staged.size,
            format=inspection.format,
            filename=metadata.filename,
            content_type=metadata.content_type,
            created_at=core.now(),
        )
        session.add(blob)
        await session.flush()
        await core.audit.record("blob.upload", f"blob:{sha256}", reason=f"{blob.format} {blob.filename}")
        # Last step before the transaction commits: if it fails the row is rolled back; a failed commit
        # after it leaves only an unreferenced file, which the next upload of the same bytes reuses.
        await asyncio.to_thread(core.storage.commit, staged, sha256)
        return blob
