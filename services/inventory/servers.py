"""Server use cases: register by hand, read, list with filters, change, delete."""

from __future__ import annotations

import uuid
from dataclasses import astuple, dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.inventory import selector
from services.inventory.models import PACKAGE_FAMILIES, STATUSES, Group, Membership, Server
from services.inventory.service import (
    Core,
    Page,
    ServerView,
    id_list,
    load_group,
    load_server,
    member_of,
    page_servers,
    refuse_taken_ip,
    with_groups,
)
from services.inventory.validation import (
    check_category,
    check_hostname,
    check_ip,
    check_labels,
    check_query,
    search_address,
)
from services.kit.context import WRITE_ROLES
from services.kit.db import AsyncSession
from services.kit.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from services.kit.hints import hint_reconciler
from services.kit.pagination import parse_uuid, scope

__all__ = ["ServerDraft", "ServerChanges", "ServerFilter", "ServerUseCases", "MAX_QUERY"]

MAX_QUERY = 253
# The unique index that keeps one live server per address (see models.Server).
_IP_INDEX = "servers_ip_live"


@dataclass(frozen=True)
class ServerDraft:
    ip_address: str
    category: str
    hostname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    group_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServerChanges:
    """None leaves a field as it is; `labels` replaces all labels (an empty dict clears them)."""

    hostname: str | None = None
    ip_address: str | None = None
    category: str | None = None
    labels: dict[str, str] | None = None


@dataclass(frozen=True)
class ServerFilter:
    query: str = ""
    group_id: str = ""
    status: str = ""
    package_family: str = ""
    category: str = ""
    label_selector: str = ""


class ServerUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def create(self, draft: ServerDraft) -> ServerView:
        core = self.core
        await core.audit.authorize("server.create", "servers", *WRITE_ROLES)
        server = _new_server(draft, core.now())
        group_ids = list(dict.fromkeys(parse_uuid(value, "group id") for value in draft.group_ids))
        try:
            async with core.db.transaction() as session:
                await refuse_taken_ip(session, server.ip_address)
                await _require_groups(session, group_ids)
                session.add(server)
                await session.flush()
                session.add_all(
                    Membership(group_id=g, server_id=server.id, added_at=server.created_at) for g in group_ids
                )
                await session.flush()
                reason = f"ip_address={server.ip_address}; groups: {id_list(group_ids)}"
                await core.audit.record("server.create", f"server:{server.id}", reason=reason)
        except IntegrityError as exc:
            raise _create_conflict(exc, server.ip_address) from exc
        return ServerView(server, group_ids)

    async def get(self, server_id: str) -> ServerView:
        self.core.require_reader()
        async with self.core.db.transaction() as session:
            return (await with_groups(session, [await load_server(session, server_id)]))[0]

    async def list(self, where: ServerFilter, *, size: int, token: str) -> Page[ServerView]:
        self.core.require_reader()
        conditions = _filters(where)
        async with self.core.db.transaction() as session:
            if where.group_id:
                group = await load_group(session, where.group_id)
                conditions.append(member_of(group.id))
            listing = scope("servers", *astuple(where))
            return await page_servers(session, conditions, size=size, token=token, scope=listing)

    async def update(self, server_id: str, changes: ServerChanges) -> ServerView:
        core = self.core
        await core.audit.authorize("server.update", f"server:{server_id[:64]}", *WRITE_ROLES)
        try:
            async with core.db.transaction() as session:
                server = await load_server(session, server_id, lock=True)
                changed = await _apply(session, server, changes)
                server.updated_at = core.now()
                await session.flush()
                reason = ", ".join(changed) or "no changes"
                await core.audit.record("server.update", f"server:{server.id}", reason=reason)
                await hint_reconciler(session, f"node:{server.id}")
                return (await with_groups(session, [server]))[0]
        except IntegrityError as exc:
            raise AlreadyExists(f"another server was just given ip_address {changes.ip_address}") from exc

    async def delete(self, server_id: str) -> None:
        core = self.core
        await core.audit.authorize("server.delete", f"server:{server_id[:64]}", *WRITE_ROLES)
        async with core.db.transaction() as session:
            server = await load_server(session, server_id, lock=True)
            # Memberships and installed rows go with it (ON DELETE CASCADE).
            await session.delete(server)
            await session.flush()
            reason = f"hostname={server.hostname or '-'}, ip_address={server.ip_address}"
            await core.audit.record("server.delete", f"server:{server.id}", reason=reason)


def _new_server(draft: ServerDraft, now: datetime) -> Server:
    return Server(
        hostname=check_hostname(draft.hostname),
        ip_address=check_ip(draft.ip_address),
        category=check_category(draft.category),
        labels=check_labels(draft.labels),
        created_at=now,
        updated_at=now,
    )


def _create_conflict(exc: IntegrityError, ip: str) -> AlreadyExists | Conflict:
    """Another request took the address, or deleted a group, between our checks and the insert."""
    if _IP_INDEX in str(exc.orig):
        return AlreadyExists(f"a server with ip_address {ip} was just created")
    return Conflict("a group was deleted meanwhile; nothing was created, retry")


async def _require_groups(session: AsyncSession, group_ids: list[uuid.UUID]) -> None:
    if not group_ids:
        return
    found = set(await session.exec(select(Group.id).where(col(Group.id).in_(group_ids))))
    missing = [str(group_id) for group_id in group_ids if group_id not in found]
    if missing:
        raise NotFound(f"group {', '.join(missing)} does not exist")


async def _apply(session: AsyncSession, server: Server, changes: ServerChanges) -> list[str]:
    """Validates and applies the changes; returns a description of each for the audit record."""
    changed = []
    if changes.hostname is not None:
        server.hostname = check_hostname(changes.hostname)
        changed.append(f"hostname={server.hostname or '-'}")
    if changes.ip_address is not None:
        ip = check_ip(changes.ip_address)
        await refuse_taken_ip(session, ip, besides=server.id)
        server.ip_address = ip
        changed.append(f"ip_address={ip}")
    if changes.category is not None:
        server.category = check_category(changes.category)
        changed.append(f"category={server.category}")
    if changes.labels is not None:
        server.labels = check_labels(changes.labels)
        changed.append(f"labels ({len(server.labels)})")
    return changed


def _filters(where: ServerFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    text = check_query(where.query, MAX_QUERY)
    if text:
        conditions.append(_search(text))
    if where.status:
        conditions.append(col(Server.status) == _one_of("status", where.status, STATUSES))
    if where.package_family:
        family = _one_of("package_family", where.package_family, PACKAGE_FAMILIES)
        conditions.append(col(Server.package_family) == family)
    if where.category:
        conditions.append(col(Server.category) == check_category(where.category))
    if where.label_selector:
        conditions.extend(selector.conditions(selector.parse(where.label_selector)))
    return conditions


def _search(text: str) -> ColumnElement[bool]:
    """A substring of the hostname or address, or an address however it is written."""
    matches = [
        col(Server.hostname).icontains(text, autoescape=True),
        col(Server.ip_address).icontains(text, autoescape=True),
    ]
    address = search_address(text)
    if address is not None:
        matches.append(col(Server.ip_address) == address)
    return or_(*matches)


def _one_of(what: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidArgument(f"{what} must be one of {', '.join(choices)}")
    return value
