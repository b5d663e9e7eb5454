"""Join token use cases for operators: make one (the secret is shown once), list them, revoke one."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import tuple_
from sqlmodel import col, delete, select

from services.auth.audit import AuditEvent
from services.auth.models import JoinToken
from services.auth.node_ca import NodeAuthority, require_authority
from services.auth.service import Core
from services.kit.context import ADMIN, OPERATOR, current_call
from services.kit.db import AsyncSession
from services.kit.errors import InvalidArgument, NotFound
from services.kit.pagination import page_size, parse_uuid, read_time, read_token, scope, write_token

__all__ = [
    "TOKEN_PREFIX",
    "TOKEN_RETENTION",
    "MAX_GROUPS",
    "JoinTokenRequest",
    "CreatedJoinToken",
    "JoinTokenPage",
    "JoinTokenUseCases",
    "hash_join_token",
]

TOKEN_PREFIX = "cvj_"
MAX_GROUPS = 100


def hash_join_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class JoinTokenRequest:
    server_id: str = ""
    group_ids: Sequence[str] = ()
    # 0: the default lifetime and one use.
    ttl_seconds: int = 0
    max_uses: int = 0


@dataclass(frozen=True)
class CreatedJoinToken:
    join_token: JoinToken
    token: str
    ca_fingerprint: str


@dataclass(frozen=True)
class JoinTokenPage:
    join_tokens: list[JoinToken]
    next_page_token: str


# Expired join tokens are kept this long (audit records name them), then purged.
TOKEN_RETENTION = timedelta(days=30)
_PURGE_INTERVAL = timedelta(hours=1)


class JoinTokenUseCases:
    def __init__(self, core: Core, authority: NodeAuthority | None) -> None:
        self.core, self._authority = core, authority
        # The purge of long-expired tokens runs with a token's creation, at most once per interval.
        self._next_purge: datetime | None = None

    async def create(self, request: JoinTokenRequest) -> CreatedJoinToken:
        """Stores only the token's hash; the text goes to the operator once, with the CA fingerprint the
        agent pins."""
        core = self.core
        await core.authorize("join_token.create", "join_token", ADMIN, OPERATOR)
        authority = require_authority(self._authority)
        server_id = parse_uuid(request.server_id, "server id") if request.server_id else None
        group_ids = _group_ids(request.group_ids)
        ttl = self._ttl(request.ttl_seconds)
        max_uses = self._max_uses(request.max_uses, server_id)
        token, now = TOKEN_PREFIX + secrets.token_urlsafe(32), core.now()
        row = JoinToken(
            token_hash=hash_join_token(token),
            server_id=server_id,
            group_ids=group_ids,
            expires_at=now + ttl,
            max_uses=max_uses,
            created_by=current_call().actor[:200],
            created_at=now,
        )
        reason = (
            f"server {server_id or 'new'}, {len(group_ids)} group(s), "
            f"{int(ttl.total_seconds())} s, {max_uses} use(s)"
        )
        async with core.db.transaction() as session:
            await self._purge_expired(session, now)
            session.add(row)
            await session.flush()
            await core.audit(session, AuditEvent("join_token.create", f"join_token:{row.id}", reason=reason))
        return CreatedJoinToken(row, token, authority.ca_fingerprint)

    async def _purge_expired(self, session: AsyncSession, now: datetime) -> None:
        """Deletes tokens expired for longer than TOKEN_RETENTION, so the table does not grow forever."""
        if self._next_purge is not None and now < self._next_purge:
            return
        self._next_purge = now + _PURGE_INTERVAL
        expired = delete(JoinToken).where(col(JoinToken.expires_at) < now - TOKEN_RETENTION)
        await session.exec(expired)  # type: ignore[call-overload]

    def _ttl(self, requested: int) -> timedelta:
        settings = self.core.settings
        low, high = settings.join_token_min_seconds, settings.join_token_max_seconds
        seconds = requested or settings.join_token_default_seconds
        if not low <= seconds <= high:
            raise InvalidArgument(
                f"ttl_seconds must be between {low} and {high} (0: {settings.join_token_default_seconds})"
            )
        return timedelta(seconds=seconds)

    def _max_uses(self, requested: int, server_id: uuid.UUID | None) -> int:
        limit = self.core.settings.join_token_max_uses
        uses = requested or 1
        if not 1 <= uses <= limit:
            raise InvalidArgument(f"max_uses must be between 1 and {limit} (0: one use)")
        if server_id is not None and uses > 1:
            # Every node enrolled with it would get the same identity.
            raise InvalidArgument("a join token for a given server id can be used only once")
        return uses

    async def list(self, *, size: int, token: str, include_expired: bool) -> JoinTokenPage:
        """Newest first; without include_expired only tokens that have not expired yet."""
        core = self.core
        await core.authorize("join_token.list", "join_tokens", ADMIN, OPERATOR)
        limit, where = page_size(size), scope("join_tokens", include_expired)
        statement = select(JoinToken)
        if not include_expired:
            statement = statement.where(col(JoinToken.expires_at) > core.now())
        after = read_token(token, where, "created_at", "id")
        if after is not None:
            position = tuple_(col(JoinToken.created_at), col(JoinToken.id))
            statement = statement.where(position < tuple_(*_page_position(after)))
        order = (col(JoinToken.created_at).desc(), col(JoinToken.id).desc())
        async with core.db.transaction() as session:
            rows = list(await session.exec(statement.order_by(*order).limit(limit + 1)))
        next_token = ""
        if len(rows) > limit:
            last = rows[limit - 1]
            next_token = write_token(where, created_at=last.created_at.isoformat(), id=str(last.id))
        return JoinTokenPage(rows[:limit], next_token)

    async def revoke(self, token_id: str) -> None:
        core = self.core
        target = f"join_token:{token_id[:64]}"
        await core.authorize("join_token.revoke", target, ADMIN, OPERATOR)
        parsed = parse_uuid(token_id, "join token id")
        async with core.db.transaction() as session:
            row = await session.get(JoinToken, parsed, with_for_update=True)
            if row is None:
                raise NotFound(f"join token {token_id} does not exist")
            row.revoked = True
            await core.audit(session, AuditEvent("join_token.revoke", target))


def _group_ids(values: Sequence[str]) -> list[uuid.UUID]:
    if len(values) > MAX_GROUPS:
        raise InvalidArgument(f"a join token may name at most {MAX_GROUPS} groups")
    return list(dict.fromkeys(parse_uuid(value, "group id") for value in values))


def _page_position(after: dict[str, str]) -> tuple[datetime, uuid.UUID]:
    return read_time(after["created_at"]), parse_uuid(after["id"], "page_token id")
