"""Group use cases: groups with unique names, their maintenance windows, and idempotent membership."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.inventory.models import Group, Membership, Server
from services.inventory.service import (
    Core,
    Page,
    ServerView,
    id_list,
    load_group,
    member_of,
    page_servers,
)
from services.inventory.validation import (
    MaintenanceWindow,
    check_description,
    check_group_name,
    check_optional_category,
    check_query,
    check_window,
)
from services.kit.context import WRITE_ROLES
from services.kit.db import AsyncSession
from services.kit.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from services.kit.hints import hint_reconciler
from services.kit.pagination import page_size, parse_uuid, read_token, scope, write_token

__all__ = ["GroupDraft", "GroupChanges", "GroupView", "GroupUseCases", "MAX_MEMBERS_PER_CALL"]

MAX_MEMBERS_PER_CALL = 1000
MAX_QUERY = 256


@dataclass(frozen=True)
class GroupDraft:
    name: str
    description: str = ""
    category: str | None = None
    window: MaintenanceWindow | None = None


@dataclass(frozen=True)
class GroupChanges:
    """None leaves a field as it is; category "" removes the category; `clear_window` removes the window."""

    name: str | None = None
    description: str | None = None
    category: str | None = None
    window: MaintenanceWindow | None = None
    clear_window: bool = False


@dataclass(frozen=True)
class GroupView:
    group: Group
    member_count: int

    @property
    def window(self) -> MaintenanceWindow | None:
        group = self.group
        if (
            group.window_cron is None
            or group.window_duration_seconds is None
            or group.window_timezone is None
        ):
            return None
        return MaintenanceWindow(group.window_cron, group.window_duration_seconds, group.window_timezone)


class GroupUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def create(self, draft: GroupDraft) -> GroupView:
        core = self.core
        await core.audit.authorize("group.create", "groups", *WRITE_ROLES)
        now = core.now()
        group = Group(
            name=check_group_name(draft.name),
            description=check_description(draft.description),
            category=check_optional_category(draft.category),
            created_at=now,
            updated_at=now,
        )
        _set_window(group, draft.window)
        try:
            async with core.db.transaction() as session:
                await _refuse_taken_name(session, group.name)
                session.add(group)
                await session.flush()
                await core.audit.record("group.create", f"group:{group.id}", reason=f"name={group.name}")
        except IntegrityError as exc:
            raise AlreadyExists(f"a group named {group.name!r} already exists") from exc
        return GroupView(group, 0)

    async def get(self, group_id: str) -> GroupView:
        self.core.require_reader()
        async with self.core.db.transaction() as session:
            group = await load_group(session, group_id)
            return GroupView(group, (await _member_counts(session, [group.id]))[group.id])

    async def list(self, *, size: int, token: str, query: str, category: str) -> Page[GroupView]:
        self.core.require_reader()
        where, listing = _group_filters(query, category), scope("groups", query, category)
        limit, after = page_size(size), read_token(token, listing, "n")
        # lower(name) is unique (see models.Group), so it alone is a stable keyset.
        sort_key = func.lower(col(Group.name))
        async with self.core.db.transaction() as session:
            total = (await session.exec(select(func.count()).select_from(Group).where(*where))).one()
            statement = select(Group, sort_key).where(*where)
            if after is not None:
                statement = statement.where(sort_key > after["n"])
            rows = list(await session.exec(statement.order_by(sort_key).limit(limit + 1)))
            more, rows = len(rows) > limit, rows[:limit]
            counts = await _member_counts(session, [group.id for group, _ in rows])
        next_token = write_token(listing, n=rows[-1][1]) if more else ""
        return Page([GroupView(group, counts[group.id]) for group, _ in rows], next_token, total)

    async def update(self, group_id: str, changes: GroupChanges) -> GroupView:
        core = self.core
        await core.audit.authorize("group.update", f"group:{group_id[:64]}", *WRITE_ROLES)
        if changes.window is not None and changes.clear_window:
            raise InvalidArgument("set maintenance_window or clear_maintenance_window, not both")
        try:
            async with core.db.transaction() as session:
                group = await load_group(session, group_id, lock=True)
                changed = await _apply(session, group, changes)
                group.updated_at = core.now()
                await session.flush()
                reason = ", ".join(changed) or "no changes"
                await core.audit.record("group.update", f"group:{group.id}", reason=reason)
                return GroupView(group, (await _member_counts(session, [group.id]))[group.id])
        except IntegrityError as exc:
            raise AlreadyExists(f"a group named {changes.name!r} already exists") from exc

    async def delete(self, group_id: str) -> None:
        core = self.core
        await core.audit.authorize("group.delete", f"group:{group_id[:64]}", *WRITE_ROLES)
        async with core.db.transaction() as session:
            group = await load_group(session, group_id, lock=True)
            # Its memberships go with it (ON DELETE CASCADE); the servers stay.
            await session.delete(group)
            await session.flush()
            await core.audit.record("group.delete", f"group:{group.id}", reason=f"name={group.name}")
            await hint_reconciler(session, f"group:{group.id}")

    async def add_members(self, group_id: str, server_ids: Sequence[str]) -> int:
        """Adds the servers that are not members yet; all must exist or nothing is added."""
        core = self.core
        await core.audit.authorize("group.member.add", f"group:{group_id[:64]}", *WRITE_ROLES)
        wanted = _member_ids(server_ids)
        try:
            async with core.db.transaction() as session:
                # A delete that is under way finishes first, and this add then finds no group.
                group = await load_group(session, group_id, key_share=True)
                await _require_servers(session, wanted)
                added = await _insert_members(session, group.id, wanted, core.now())
                reason = f"added {len(added)}: {id_list(added)}"
                await core.audit.record("group.member.add", f"group:{group.id}", reason=reason)
                await hint_reconciler(session, f"group:{group.id}")
        except IntegrityError as exc:
            raise Conflict("a server or the group was deleted meanwhile; nothing was added, retry") from exc
        return len(added)

    async def remove_members(self, group_id: str, server_ids: Sequence[str]) -> int:
        """Removes those of the servers that are members; others are ignored."""
        core = self.core
        await core.audit.authorize("group.member.remove", f"group:{group_id[:64]}", *WRITE_ROLES)
        unwanted = _member_ids(server_ids)
        async with core.db.transaction() as session:
            group = await load_group(session, group_id)
            statement = (
                delete(Membership)
                .where(col(Membership.group_id) == group.id, col(Membership.server_id).in_(unwanted))
                .returning(col(Membership.server_id))
            )
            removed = list((await (await session.connection()).execute(statement)).scalars())
            reason = f"removed {len(removed)}: {id_list(removed)}"
            await core.audit.record("group.member.remove", f"group:{group.id}", reason=reason)
            await hint_reconciler(session, f"group:{group.id}")
        return len(removed)

    async def list_members(self, group_id: str, *, size: int, token: str) -> Page[ServerView]:
        self.core.require_reader()
        async with self.core.db.transaction() as session:
            group = await load_group(session, group_id)
            listing = scope("members", group.id)
            return await page_servers(session, [member_of(group.id)], size=size, token=token, scope=listing)


def _set_window(group: Group, window: MaintenanceWindow | None) -> None:
    checked = check_window(window) if window is not None else None
    group.window_cron = checked.cron if checked else None
    group.window_duration_seconds = checked.duration_seconds if checked else None
    group.window_timezone = checked.timezone if checked else None


async def _refuse_taken_name(session: AsyncSession, name: str, *, besides: uuid.UUID | None = None) -> None:
    # Folded by PostgreSQL on both sides, exactly as the unique index folds them (Python's lower()
    # differs for some letters, e.g. 'İ').
    statement = select(Group.id).where(func.lower(col(Group.name)) == func.lower(name))
    if besides is not None:
        statement = statement.where(col(Group.id) != besides)
    owner = (await session.exec(statement)).first()
    if owner is not None:
        raise AlreadyExists(f"a group named {name!r} already exists ({owner})")


async def _apply(session: AsyncSession, group: Group, changes: GroupChanges) -> list[str]:
    """Validates and applies the changes; returns a description of each for the audit record."""
    changed = []
    if changes.name is not None:
        name = check_group_name(changes.name)
        await _refuse_taken_name(session, name, besides=group.id)
        group.name = name
        changed.append(f"name={name}")
    if changes.description is not None:
        group.description = check_description(changes.description)
        changed.append("description")
    if changes.category is not None:
        group.category = check_optional_category(changes.category)
        changed.append(f"category={group.category or '-'}")
    if changes.window is not None or changes.clear_window:
        _set_window(group, changes.window)
        changed.append("maintenance_window" if changes.window else "maintenance_window cleared")
    return changed


def _group_filters(query: str, category: str) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    text = check_query(query, MAX_QUERY)
    if text:
        where.append(
            or_(
                col(Group.name).icontains(text, autoescape=True),
                col(Group.description).icontains(text, autoescape=True),
            )
        )
    if category:
        where.append(col(Group.category) == check_optional_category(category))
    return where


async def _member_counts(session: AsyncSession, group_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    counts = dict.fromkeys(group_ids, 0)
    if group_ids:
        statement = (
            select(Membership.group_id, func.count())
            .where(col(Membership.group_id).in_(group_ids))
            .group_by(col(Membership.group_id))
        )
        counts.update({group_id: count for group_id, count in await session.exec(statement)})
    return counts


def _member_ids(server_ids: Sequence[str]) -> list[uuid.UUID]:
    if not server_ids:
        raise InvalidArgument("server_ids must name at least one server")
    if len(server_ids) > MAX_MEMBERS_PER_CALL:
        raise InvalidArgument(f"at most {MAX_MEMBERS_PER_CALL} server_ids per call")
    # Sorted, so that concurrent calls insert overlapping members in one order and cannot deadlock.
    return sorted({parse_uuid(value, "server id") for value in server_ids})


async def _require_servers(session: AsyncSession, server_ids: list[uuid.UUID]) -> None:
    found = set(await session.exec(select(Server.id).where(col(Server.id).in_(server_ids))))
    missing = [str(server_id) for server_id in server_ids if server_id not in found]
    if missing:
        raise NotFound(f"server {id_list(missing)} does not exist; nothing was added")


async def _insert_members(
    session: AsyncSession, group_id: uuid.UUID, server_ids: list[uuid.UUID], now: datetime
) -> list[uuid.UUID]:
    """The servers that were not members before (a repeated add is a no-op)."""
    rows = [{"group_id": group_id, "server_id": server_id, "added_at": now} for server_id in server_ids]
    statement = (
        insert(Membership)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["group_id", "server_id"])
        .returning(col(Membership.server_id))
    )
    return list((await (await session.connection()).execute(statement)).scalars())
