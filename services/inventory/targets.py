"""ResolveTargets: which servers a deployment target means right now (never revoked ones)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, String, column, func, values
from sqlmodel import col, select

from services.inventory import selector
from services.inventory.models import REVOKED, Group, Server
from services.inventory.service import Core, ServerView, load_group, load_server, member_of, with_groups
from services.kit.db import AsyncSession
from services.kit.errors import InvalidArgument, NotFound

__all__ = ["Target", "TargetKind", "TargetUseCases"]

TargetKind = Literal["server_id", "group_id", "all", "selector"]


@dataclass(frozen=True)
class Target:
    """`kind` is None when the request named no target; `value` is the id or selector text."""

    kind: TargetKind | None
    value: str = ""
    all: bool = False


class TargetUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def resolve(self, target: Target) -> list[ServerView]:
        self.core.require_reader()
        async with self.core.db.transaction() as session:
            where = await _conditions(session, target)
            where.append(col(Server.status) != REVOKED)
            statement = select(Server).where(*where).order_by(col(Server.hostname), col(Server.id))
            return await with_groups(session, list(await session.exec(statement)))


async def _conditions(session: AsyncSession, target: Target) -> list[ColumnElement[bool]]:
    if target.kind == "server_id":
        server = await load_server(session, target.value)
        return [col(Server.id) == server.id]
    if target.kind == "group_id":
        group = await load_group(session, target.value)
        return [member_of(group.id)]
    if target.kind == "all":
        if not target.all:
            raise InvalidArgument("target all must be true when it is set")
        return []
    if target.kind == "selector":
        terms = selector.parse(target.value)
        await _require_group_names(session, selector.group_names(terms))
        return selector.conditions(terms)
    raise InvalidArgument("target must set one of server_id, group_id, all or selector")


async def _require_group_names(session: AsyncSession, names: Sequence[str]) -> None:
    """A misspelt group must not quietly select nothing for a deployment."""
    if not names:
        return
    wanted = values(column("name", String), name="wanted").data([(name,) for name in names])
    named = select(Group.id).where(func.lower(col(Group.name)) == func.lower(wanted.c.name))
    missing = list(await session.exec(select(wanted.c.name).where(~named.exists())))
    if missing:
        raise NotFound(f"no group is named {', '.join(repr(name) for name in missing)}")
