"""Reading deployments: one with its counts, lists with filters (newest first), targets, a target's log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, exists, func, tuple_
from sqlmodel import col, select

from services.kit.errors import InvalidArgument, NotFound
from services.kit.pagination import page_size, parse_uuid, read_time, read_token, scope, write_token
from services.kit.text import check_query
from services.scheduler.control import DeploymentView
from services.scheduler.models import DEPLOYMENT_STATES, TARGET_STATES, Deployment, Target, TargetLog
from services.scheduler.service import Core
from services.scheduler.store import counts_by_deployment, counts_of, load_deployment

__all__ = ["DeploymentFilter", "TargetFilter", "Page", "LogView", "QueryUseCases"]

_MAX_NAME = 128


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str
    total_size: int


@dataclass(frozen=True)
class DeploymentFilter:
    state: str = ""
    package_id: str = ""
    software_name: str = ""
    policy_id: str = ""
    server_id: str = ""
    created_by: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class TargetFilter:
    state: str = ""
    attempt: int = 0
    batch: int = 0
    query: str = ""
    server_id: str = ""


@dataclass(frozen=True)
class LogView:
    lines: list[TargetLog]
    dropped: int


def _text_filter(name: str, value: str) -> str:
    if len(value) > _MAX_NAME or "\x00" in value:
        raise InvalidArgument(f"{name} must be at most {_MAX_NAME} characters")
    return value


def _deployment_conditions(where: DeploymentFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.state:
        if where.state not in DEPLOYMENT_STATES:
            raise InvalidArgument("state is not a deployment state")
        conditions.append(col(Deployment.state) == where.state)
    if where.package_id:
        conditions.append(col(Deployment.package_id) == parse_uuid(where.package_id, "package_id"))
    if where.software_name:
        conditions.append(col(Deployment.software_name) == _text_filter("software_name", where.software_name))
    if where.policy_id:
        conditions.append(col(Deployment.policy_id) == parse_uuid(where.policy_id, "policy_id"))
    if where.server_id:
        server = parse_uuid(where.server_id, "server_id")
        covers = select(Target.server_id).where(
            col(Target.deployment_id) == col(Deployment.id), col(Target.server_id) == server
        )
        conditions.append(exists(covers))
    if where.created_by:
        conditions.append(col(Deployment.created_by) == _text_filter("created_by", where.created_by))
    if where.since is not None:
        conditions.append(col(Deployment.created_at) >= where.since)
    if where.until is not None:
        conditions.append(col(Deployment.created_at) < where.until)
    return conditions


class QueryUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def get(self, deployment_id: str) -> DeploymentView:
        self.core.require_reader()
        async with self.core.db.transaction() as session:
            deployment = await load_deployment(session, deployment_id)
            return DeploymentView(deployment, await counts_of(session, deployment.id))

    async def list(self, where: DeploymentFilter, *, size: int, token: str) -> Page[DeploymentView]:
        """Newest first, by (created_at, id) descending: stable and index-backed."""
        self.core.require_reader()
        conditions = _deployment_conditions(where)
        listing = scope("deployments", where)
        limit, after = page_size(size), read_token(token, listing, "t", "id")
        async with self.core.db.transaction() as session:
            total = (
                await session.exec(select(func.count()).select_from(Deployment).where(*conditions))
            ).one()
            statement = select(Deployment).where(*conditions)
            if after is not None:
                cursor = (read_time(after["t"]), parse_uuid(after["id"], "page_token id"))
                statement = statement.where(tuple_(col(Deployment.created_at), col(Deployment.id)) < cursor)
            statement = statement.order_by(col(Deployment.created_at).desc(), col(Deployment.id).desc())
            rows = list(await session.exec(statement.limit(limit + 1)))
            more, rows = len(rows) > limit, rows[:limit]
            counts = await counts_by_deployment(session, [row.id for row in rows])
        next_token = (
            write_token(listing, t=rows[-1].created_at.isoformat(), id=str(rows[-1].id)) if more else ""
        )
        return Page([DeploymentView(row, counts[row.id]) for row in rows], next_token, total)

    async def targets(
        self, deployment_id: str, where: TargetFilter, *, size: int, token: str
    ) -> Page[Target]:
        """In (batch, hostname, server id) order."""
        self.core.require_reader()
        conditions = await self._target_conditions(where)
        listing = scope("targets", deployment_id, where)
        limit, after = page_size(size), read_token(token, listing, "b", "h", "id")
        async with self.core.db.transaction() as session:
            deployment = await load_deployment(session, deployment_id)
            conditions.append(col(Target.deployment_id) == deployment.id)
            total = (await session.exec(select(func.count()).select_from(Target).where(*conditions))).one()
            statement = select(Target).where(*conditions)
            if after is not None:
                cursor = (_parse_int(after["b"]), after["h"], parse_uuid(after["id"], "page_token id"))
                statement = statement.where(
                    tuple_(col(Target.batch), col(Target.hostname), col(Target.server_id)) > cursor
                )
            order = (col(Target.batch), col(Target.hostname), col(Target.server_id))
            rows = list(await session.exec(statement.order_by(*order).limit(limit + 1)))
        more, rows = len(rows) > limit, rows[:limit]
        last = rows[-1] if rows else None
        next_token = (
            write_token(listing, b=str(last.batch), h=last.hostname, id=str(last.server_id))
            if more and last
            else ""
        )
        return Page(rows, next_token, total)

    async def _target_conditions(self, where: TargetFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if where.state:
            if where.state not in TARGET_STATES:
                raise InvalidArgument("state is not a target state")
            conditions.append(col(Target.state) == where.state)
        if where.attempt < 0 or where.batch < 0:
            raise InvalidArgument("attempt and batch must not be negative")
        conditions.append(col(Target.attempt) == where.attempt if where.attempt else col(Target.current))
        if where.batch:
            conditions.append(col(Target.batch) == where.batch)
        query = check_query(where.query, 253)
        if query:
            conditions.append(col(Target.hostname).icontains(query, autoescape=True))
        if where.server_id:
            conditions.append(col(Target.server_id) == parse_uuid(where.server_id, "server_id"))
        return conditions

    async def log(self, deployment_id: str, server_id: str, attempt: int) -> LogView:
        """The kept head and tail of one attempt's output, and how many lines were dropped between."""
        self.core.require_reader()
        if attempt < 0:
            raise InvalidArgument("attempt must not be negative")
        server = parse_uuid(server_id, "server_id")
        async with self.core.db.transaction() as session:
            deployment = await load_deployment(session, deployment_id)
            statement = select(Target).where(
                col(Target.deployment_id) == deployment.id, col(Target.server_id) == server
            )
            statement = statement.where(col(Target.attempt) == attempt if attempt else col(Target.current))
            target = (await session.exec(statement)).first()
            if target is None:
                what = f"attempt {attempt}" if attempt else "target"
                raise NotFound(f"deployment {deployment.id} has no {what} for server {server}")
            lines = list(
                await session.exec(
                    select(TargetLog)
                    .where(
                        col(TargetLog.deployment_id) == deployment.id,
                        col(TargetLog.server_id) == server,
                        col(TargetLog.attempt) == target.attempt,
                    )
                    .order_by(col(TargetLog.seq))
                )
            )
        return LogView(lines, target.log_line_count - len(lines))


def _parse_int(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidArgument("page_token is not valid") from exc
