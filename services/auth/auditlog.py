"""Audit log use cases: records from other services, filtered listing, and the chain check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from services.auth import audit
from services.auth.audit import DENIED, FAILURE, SUCCESS, AuditEvent, ChainReport
from services.auth.models import AuditEntry
from services.auth.service import Core
from services.kit.context import ADMIN, current_call
from services.kit.errors import InvalidArgument, PermissionDenied
from services.kit.pagination import decode_token, encode_token, page_size

__all__ = ["AuditFilter", "AuditPage", "AuditUseCases"]

RESULTS = (SUCCESS, DENIED, FAILURE)
_VERIFY_BATCH = 1000


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    target: str = ""
    result: str = ""
    request_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditEntry]
    next_page_token: str


class AuditUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def record(self, event: AuditEvent, actor: str) -> AuditEntry:
        """Appends an event reported by another service; only services may report."""
        call = current_call()
        if call.user is not None or call.peer is None:
            raise PermissionDenied("only Convoy services may write audit records")
        if not event.action or event.result not in RESULTS:
            raise InvalidArgument(f"an audit record needs an action and a result ({', '.join(RESULTS)})")
        async with self.core.db.transaction() as session:
            return await audit.append(
                session, event, call, now=self.core.now(), source=call.peer.name, actor=actor
            )

    async def list(self, where: AuditFilter, *, size: int, token: str) -> AuditPage:
        await self.core.authorize("audit.list", "audit", ADMIN)
        limit, before = page_size(size), decode_token(token, "before")
        statement = _filtered(select(AuditEntry), where)
        if before:
            statement = statement.where(col(AuditEntry.id) < int(before["before"]))
        async with self.core.db.transaction() as session:
            rows = list(await session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(limit + 1)))
        next_token = encode_token({"before": rows[limit - 1].id}) if len(rows) > limit else ""
        return AuditPage(rows[:limit], next_token)

    async def verify(self) -> ChainReport:
        await self.core.authorize("audit.verify", "audit", ADMIN)
        prev_hash, last_id, checked = audit.GENESIS, 0, 0
        while True:
            async with self.core.db.transaction() as session:
                statement = select(AuditEntry).where(col(AuditEntry.id) > last_id)
                batch = list(await session.exec(statement.order_by(col(AuditEntry.id)).limit(_VERIFY_BATCH)))
            report = audit.verify_chain(batch, prev_hash)
            if not report.ok:
                return ChainReport(False, checked + report.checked, report.first_bad_id, report.reason)
            if not batch:
                return ChainReport(True, checked)
            checked += len(batch)
            prev_hash, last_id = batch[-1].hash, batch[-1].id or 0


def _filtered(statement, where: AuditFilter):  # type: ignore[no-untyped-def]
    if where.result and where.result not in RESULTS:
        raise InvalidArgument(f"result must be one of {', '.join(RESULTS)}")
    if where.since and where.until and where.since > where.until:
        raise InvalidArgument("since must not be after until")
    exact = {
        "actor": where.actor,
        "target": where.target,
        "result": where.result,
        "request_id": where.request_id,
    }
    for name, value in exact.items():
        if value:
            statement = statement.where(getattr(AuditEntry, name) == value)
    if where.action.endswith("."):
        statement = statement.where(col(AuditEntry.action).startswith(where.action))
    elif where.action:
        statement = statement.where(AuditEntry.action == where.action)
    if where.since:
        statement = statement.where(col(AuditEntry.time) >= where.since)
    if where.until:
        statement = statement.where(col(AuditEntry.time) < where.until)
    return statement
