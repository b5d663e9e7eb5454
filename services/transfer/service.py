"""Blob use cases: stat, list, delete and references; and the core every transfer use case shares."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, text, tuple_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from services.kit.audit_client import AuditClient
from services.kit.context import USER_ROLES, WRITE_ROLES, Principal, require_caller
from services.kit.db import AsyncSession, Database
from services.kit.errors import FailedPrecondition, InvalidArgument, NotFound
from services.kit.pagination import page_size, read_time, read_token, scope, write_token
from services.transfer.config import TransferSettings
from services.transfer.inspection import Limits
from services.transfer.models import FORMATS, Blob, BlobReference
from services.transfer.storage import Storage

__all__ = ["Core", "BlobView", "BlobPage", "BlobUseCases", "check_sha256", "lock_blob", "utcnow"]

log = logging.getLogger("convoy.transfer")

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Advisory locks are per database: this first key keeps ours apart from other services' ("blob").
_LOCK_SPACE = 0x626C6F62
_MAX_HOLDER = 200


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_sha256(value: str) -> str:
    # fullmatch: "$" would also accept a trailing newline.
    if not _SHA256.fullmatch(value):
        raise InvalidArgument(f"sha256 must be 64 lowercase hex characters, got {value[:80]!r}")
    return value


def _check_holder(holder: str) -> str:
    # Printable only: PostgreSQL text cannot hold NUL, and holders are shown in refusals and audit records.
    if not holder.strip() or len(holder) > _MAX_HOLDER or not holder.isprintable():
        raise InvalidArgument(
            f"holder must be 1 to {_MAX_HOLDER} printable characters, e.g. 'catalog.package:<id>'"
        )
    return holder


async def lock_blob(session: AsyncSession, sha256: str) -> Blob | None:
    """Serialises every change to one blob (row and file) until the transaction ends; the row, if any.

    The advisory lock also covers the moment a blob does not exist yet, which a row lock cannot.
    """
    key = int(sha256[:8], 16) - 2**31
    lock = text("SELECT pg_advisory_xact_lock(CAST(:space AS integer), CAST(:key AS integer))").bindparams(
        space=_LOCK_SPACE, key=key
    )
    await session.exec(lock)  # type: ignore[call-overload]
    statement = select(Blob).where(Blob.sha256 == sha256).with_for_update()
    return (await session.exec(statement)).first()


def _reference_count():  # type: ignore[no-untyped-def]
    return (
        select(func.count())
        .where(col(BlobReference.sha256) == col(Blob.sha256))
        .correlate(Blob)
        .scalar_subquery()
        .label("reference_count")
    )


@dataclass(frozen=True)
class BlobView:
    blob: Blob
    reference_count: int


@dataclass(frozen=True)
class BlobPage:
    blobs: list[BlobView]
    next_page_token: str


class Core:
    """What every transfer use case needs: the database, the storage, the audit log, limits and the clock."""

    def __init__(
        self,
        db: Database,
        storage: Storage,
        audit: AuditClient,
        settings: TransferSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.storage, self.audit, self.settings, self.now = db, storage, audit, settings, clock
        self.limits = Limits(
            max_members=settings.max_archive_members,
            max_expansion_ratio=settings.max_expansion_ratio,
            timeout_seconds=settings.inspect_timeout_seconds,
        )

    async def view(self, session: AsyncSession, blob: Blob) -> BlobView:
        count = select(func.count()).where(col(BlobReference.sha256) == blob.sha256)
        return BlobView(blob, (await session.exec(count)).one())

    async def remove_file_if_unused(self, sha256: str) -> None:
        """Deletes the stored bytes once the row is gone, unless an upload has stored them again since."""
        try:
            async with self.db.transaction() as session:
                if await lock_blob(session, sha256) is None:
                    await asyncio.to_thread(self.storage.delete, sha256)
        except (OSError, SQLAlchemyError) as exc:
            # The row is gone already; a leftover file is harmless (a new upload reuses it).
            log.warning("could not remove the file of deleted blob %s: %s", sha256, exc)


class BlobUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def stat(self, sha256: str) -> BlobView:
        require_caller(*USER_ROLES)
        sha256 = check_sha256(sha256)
        async with self.core.db.transaction() as session:
            row = (await session.exec(select(Blob, _reference_count()).where(Blob.sha256 == sha256))).first()
        if row is None:
            raise NotFound(f"blob {sha256} is not stored")
        return BlobView(*row)

    async def list(self, *, size: int, token: str, format: str) -> BlobPage:
        require_caller(*USER_ROLES)
        where = scope("blobs", _check_format(format) if format else "")
        limit, after = page_size(size), read_token(token, where, "created_at", "sha256")
        statement = select(Blob, _reference_count())
        if format:
            statement = statement.where(Blob.format == format)
        if after:
            position = (read_time(after["created_at"]), after["sha256"])
            statement = statement.where(tuple_(col(Blob.created_at), col(Blob.sha256)) < position)
        statement = statement.order_by(col(Blob.created_at).desc(), col(Blob.sha256).desc()).limit(limit + 1)
        async with self.core.db.transaction() as session:
            rows = [BlobView(*row) for row in await session.exec(statement)]
        next_token = _position(where, rows[limit - 1].blob) if len(rows) > limit else ""
        return BlobPage(rows[:limit], next_token)

    async def delete(self, sha256: str) -> None:
        sha256 = check_sha256(sha256)
        audit = self.core.audit
        await audit.authorize("blob.delete", f"blob:{sha256}", *WRITE_ROLES)
        async with self.core.db.transaction() as session:
            blob = await lock_blob(session, sha256)
            if blob is None:
                raise NotFound(f"blob {sha256} is not stored")
            await _refuse_if_referenced(session, sha256)
            await session.delete(blob)
            await session.flush()
            await audit.record("blob.delete", f"blob:{sha256}", reason=f"{blob.format} {blob.filename}")
        await self.core.remove_file_if_unused(sha256)

    async def add_reference(self, sha256: str, holder: str) -> BlobView:
        await self._require_service("blob.reference.add", f"blob:{sha256[:64]}")
        sha256, holder = check_sha256(sha256), _check_holder(holder)
        async with self.core.db.transaction() as session:
            blob = await lock_blob(session, sha256)
            if blob is None:
                raise NotFound(f"blob {sha256} is not stored")
            if await session.get(BlobReference, (sha256, holder)) is None:
                session.add(BlobReference(sha256=sha256, holder=holder, created_at=self.core.now()))
                await session.flush()
                await self.core.audit.record(
                    "blob.reference.add", f"blob:{sha256}", reason=f"holder={holder}"
                )
            return await self.core.view(session, blob)

    async def remove_reference(self, sha256: str, holder: str, *, delete_unreferenced: bool) -> bool:
        """Drops the holder's reference; with `delete_unreferenced`, a blob whose last reference this
        call removed is deleted too. True when the blob was deleted."""
        await self._require_service("blob.reference.remove", f"blob:{sha256[:64]}")
        sha256, holder = check_sha256(sha256), _check_holder(holder)
        audit = self.core.audit
        async with self.core.db.transaction() as session:
            blob = await lock_blob(session, sha256)
            reference = await session.get(BlobReference, (sha256, holder)) if blob else None
            if blob is None or reference is None:
                return False
            await session.delete(reference)
            await session.flush()
            await audit.record("blob.reference.remove", f"blob:{sha256}", reason=f"holder={holder}")
            deleted = delete_unreferenced and (await self.core.view(session, blob)).reference_count == 0
            if deleted:
                await session.delete(blob)
                await session.flush()
                await audit.record("blob.delete", f"blob:{sha256}", reason="last reference removed")
        if deleted:
            await self.core.remove_file_if_unused(sha256)
        return deleted

    async def _require_service(self, action: str, target: str) -> Principal:
        """References are bookkeeping between services: a user token (even an admin's) is refused."""
        reason = "only Convoy services may change blob references"
        return await self.core.audit.authorize_service(action, target, reason)


async def _refuse_if_referenced(session: AsyncSession, sha256: str) -> None:
    holders = (
        select(BlobReference.holder).where(BlobReference.sha256 == sha256).order_by(BlobReference.holder)
    )
    names = list(await session.exec(holders.limit(2)))
    if names:
        more = " and others" if len(names) > 1 else ""
        raise FailedPrecondition(f"blob {sha256} is still referenced by {names[0]}{more}; remove those first")


def _check_format(format: str) -> str:
    if format not in FORMATS:
        raise InvalidArgument(f"format must be one of {', '.join(FORMATS)}")
    return format


def _position(where: str, blob: Blob) -> str:
    return write_token(where, created_at=blob.created_at.isoformat(), sha256=blob.sha256)
