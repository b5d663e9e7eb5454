"""What every inventory use case shares: the database, the audit client, the clock, loading and paging."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, Uuid, any_, exists, func, literal, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from services.inventory.models import REVOKED, Group, Membership, Server
from services.kit.audit_client import AuditClient
from services.kit.context import USER_ROLES, Principal, current_call, require_caller, service_peer
from services.kit.db import AsyncSession, Database
from services.kit.errors import AlreadyExists, NotFound, Unauthenticated
from services.kit.pagination import page_size, parse_uuid, read_token, write_token

__all__ = [
    "utcnow",
    "Core",
    "ServerView",
    "Page",
    "load_server",
    "load_group",
    "with_groups",
    "member_of",
    "page_servers",
    "refuse_taken_ip",
    "id_list",
]

T = TypeVar("T")
# Audit reasons are stored up to 1000 characters; a long id list is cut with a count of the rest.
_REASON_LIMIT = 900


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServerView:
    """A server with the groups it belongs to."""

    server: Server
    group_ids: list[uuid.UUID]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str
    total_size: int = 0


class Core:
    def __init__(self, db: Database, audit: AuditClient, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.audit, self.now = db, audit, clock

    @staticmethod
    def require_reader() -> Principal:
        return require_caller(*USER_ROLES)

    async def require_service(self, action: str, target: str) -> Principal:
        """Only Convoy services (a service certificate and no user token) report observations."""
        if current_call().user is None and service_peer() is None:
            raise Unauthenticated("a service certificate is required")
        return await self.audit.authorize_service(
            action, target, "only Convoy services may report what agents observed"
        )


async def load_server(session: AsyncSession, server_id: str, *, lock: bool = False) -> Server:
    return await _load(session, Server, parse_uuid(server_id, "server id"), "server", lock=lock)


async def load_group(
    session: AsyncSession, group_id: str, *, lock: bool = False, key_share: bool = False
) -> Group:
    """`key_share` keeps the group from being deleted until the transaction ends, without blocking
    other readers or changes to its fields."""
    group_uuid = parse_uuid(group_id, "group id")
    return await _load(session, Group, group_uuid, "group", lock=lock, key_share=key_share)


async def _load(
    session: AsyncSession,
    model: type[T],
    row_id: uuid.UUID,
    what: str,
    *,
    lock: bool = False,
    key_share: bool = False,
) -> T:
    statement = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    if lock or key_share:
        statement = statement.with_for_update(key_share=key_share and not lock)
    row = (await session.exec(statement)).first()
    if row is None:
        raise NotFound(f"{what} {row_id} does not exist")
    return row


def _any_of(ids: Sequence[uuid.UUID]) -> ColumnElement[object]:
    """`= ANY(array)`: one bind parameter however many ids, where IN would need one per id and
    PostgreSQL's protocol allows at most 32767 (a fleet is larger than that)."""
    return any_(literal(list(ids), ARRAY(Uuid())))


async def with_groups(session: AsyncSession, servers: Sequence[Server]) -> list[ServerView]:
    """The servers with their group ids, fetched in one query for all of them."""
    groups: dict[uuid.UUID, list[uuid.UUID]] = {server.id: [] for server in servers}
    if groups:
        statement = (
            select(Membership.server_id, Membership.group_id)
            .where(col(Membership.server_id) == _any_of(list(groups)))
            .order_by(col(Membership.added_at), col(Membership.group_id))
        )
        for server_id, group_id in await session.exec(statement):
            groups[server_id].append(group_id)
    return [ServerView(server, groups[server.id]) for server in servers]


def member_of(group_id: uuid.UUID) -> ColumnElement[bool]:
    """The server (of the enclosing query) belongs to the group."""
    member = select(Membership.server_id).where(
        col(Membership.server_id) == col(Server.id), col(Membership.group_id) == group_id
    )
    return exists(member)


async def page_servers(
    session: AsyncSession, where: Sequence[ColumnElement[bool]], *, size: int, token: str, scope: str
) -> Page[ServerView]:
    """One page in (hostname, id) order — stable and index-backed — plus the total matching count.

    `scope` fingerprints the listing and its filters; a token is refused anywhere else."""
    limit, after = page_size(size), read_token(token, scope, "h", "id")
    total = (await session.exec(select(func.count()).select_from(Server).where(*where))).one()
    statement = select(Server).where(*where)
    if after is not None:
        cursor = (after["h"], parse_uuid(after["id"], "page_token id"))
        statement = statement.where(tuple_(col(Server.hostname), col(Server.id)) > cursor)
    rows = list(await session.exec(statement.order_by(col(Server.hostname), col(Server.id)).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    next_token = write_token(scope, h=rows[-1].hostname, id=str(rows[-1].id)) if more else ""
    return Page(await with_groups(session, rows), next_token, total)


async def refuse_taken_ip(session: AsyncSession, ip: str, *, besides: uuid.UUID | None = None) -> None:
    """ALREADY_EXISTS naming the live (not revoked) server that has `ip`, other than `besides`."""
    statement = select(Server.id).where(col(Server.ip_address) == ip, col(Server.status) != REVOKED)
    if besides is not None:
        statement = statement.where(col(Server.id) != besides)
    owner = (await session.exec(statement)).first()
    if owner is not None:
        raise AlreadyExists(f"server {owner} already has ip_address {ip}")


def id_list(ids: Sequence[uuid.UUID | str]) -> str:
    """Ids for an audit reason, cut to fit with a count of the rest."""
    text, shown = "", 0
    for value in ids:
        item = str(value) if not text else f", {value}"
        if len(text) + len(item) > _REASON_LIMIT:
            return f"{text} (and {len(ids) - shown} more)"
        text, shown = text + item, shown + 1
    return text or "none"
