"""Reads and locks shared by the scheduler's use cases, the rollout loop and dispatch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Uuid, any_, func, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from services.kit.db import AsyncSession
from services.kit.errors import NotFound
from services.kit.pagination import parse_uuid
from services.scheduler.models import Deployment, Target

__all__ = ["load_deployment", "counts_of", "counts_by_deployment", "any_uuid"]


def any_uuid(ids: Sequence[uuid.UUID]) -> object:
    """`= ANY(array)`: one bind parameter however many ids."""
    return any_(literal(list(ids), ARRAY(Uuid())))


async def load_deployment(session: AsyncSession, deployment_id: str, *, lock: bool = False) -> Deployment:
    """The deployment; with `lock`, held FOR UPDATE until the transaction ends (the rollout loop skips it)."""
    row_id = parse_uuid(deployment_id, "deployment id")
    statement = select(Deployment).where(col(Deployment.id) == row_id)
    if lock:
        statement = statement.with_for_update()
    row = (await session.exec(statement)).first()
    if row is None:
        raise NotFound(f"deployment {row_id} does not exist")
    return row


async def counts_of(session: AsyncSession, deployment_id: uuid.UUID) -> dict[str, int]:
    """Targets per state over the current attempt of every target."""
    return (await counts_by_deployment(session, [deployment_id])).get(deployment_id, {})


async def counts_by_deployment(
    session: AsyncSession, deployment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    counts: dict[uuid.UUID, dict[str, int]] = {deployment_id: {} for deployment_id in deployment_ids}
    if not deployment_ids:
        return counts
    statement = (
        select(Target.deployment_id, Target.state, func.count())
        .where(col(Target.deployment_id) == any_uuid(deployment_ids), col(Target.current))
        .group_by(col(Target.deployment_id), col(Target.state))
    )
    for deployment_id, state, number in await session.exec(statement):
        counts[deployment_id][state] = number
    return counts
