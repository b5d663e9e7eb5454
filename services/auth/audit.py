"""The hash-chained audit log: append inside the caller's transaction, verify the whole chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import col, select

from services.auth.models import AuditEntry
from services.kit.context import CallContext
from services.kit.db import AsyncSession

__all__ = [
    "SUCCESS",
    "DENIED",
    "FAILURE",
    "GENESIS",
    "AuditEvent",
    "append",
    "entry_hash",
    "ChainReport",
    "verify_chain",
]

SUCCESS, DENIED, FAILURE = "success", "denied", "failure"
GENESIS = "0" * 64
# One writer at a time extends the chain; the lock is held until the writer's transaction ends.
_CHAIN_LOCK = 0x636F6E766F79  # "convoy"
_HASHED = ("time", "source", "actor", "action", "target", "result", "reason", "request_id", "client_address")


@dataclass(frozen=True)
class AuditEvent:
    action: str
    target: str = ""
    result: str = SUCCESS
    reason: str = ""


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    fields = {name: getattr(entry, name) for name in _HASHED}
    fields["time"] = entry.time.isoformat(timespec="microseconds")
    payload = json.dumps({"prev": prev_hash, **fields}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


async def append(
    session: AsyncSession,
    event: AuditEvent,
    call: CallContext,
    *,
    now: datetime,
    source: str,
    actor: str = "",
) -> AuditEntry:
    """Adds one record to the chain in the same transaction as the change it records."""
    await session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_CHAIN_LOCK))  # type: ignore[call-overload]
    last = (await session.exec(select(AuditEntry.hash).order_by(col(AuditEntry.id).desc()).limit(1))).first()
    entry = AuditEntry(
        time=now,
        source=source,
        actor=(actor or call.actor)[:200],
        action=event.action,
        target=event.target[:300],
        result=event.result,
        reason=event.reason[:1000],
        request_id=call.request_id[:100],
        client_address=call.client_address[:200],
        prev_hash=last or GENESIS,
        hash="",
    )
    entry.hash = entry_hash(entry, entry.prev_hash)
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int = 0
    reason: str = ""


def verify_chain(entries: Sequence[AuditEntry], prev_hash: str = GENESIS) -> ChainReport:
    """Walks records in id order; any edited, removed or reordered record breaks a link."""
    for count, entry in enumerate(entries, start=1):
        if entry.prev_hash != prev_hash:
            return ChainReport(False, count, entry.id or 0, "record does not follow the previous one")
        if entry_hash(entry, prev_hash) != entry.hash:
            return ChainReport(False, count, entry.id or 0, "record content does not match its hash")
        prev_hash = entry.hash
    return ChainReport(True, len(entries))
