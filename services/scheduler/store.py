"""Reads and locks shared by the scheduler's use cases, the rollout loop and dispatch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Uuid, any_, func, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from services.kit.db import AsyncSession
from services.kit.errors import NotFound
from services.kit.pagination import parse_uuid
from services.scheduler.models import FAILED, SUCCEEDED, Deployment, Target

if TYPE_CHECKING:  # events.py imports this module
    from services.scheduler.events import Changes

__all__ = ["load_deployment", "counts_of", "counts_by_deployment", "any_uuid", "finish_deployment"]


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


async def finish_deployment(
    session: AsyncSession, deployment: Deployment, counts: dict[str, int], changes: Changes
) -> None:
    """A deployment whose current targets are all final: FAILED if any failed, else SUCCEEDED, with an
    event. Both the rollout loop and a late result (after the rollout gave up on a node) finish one; the
    first finishing time is kept."""
    failed = counts.get(FAILED, 0)
    deployment.state = FAILED if failed else SUCCEEDED
    deployment.state_reason = f"{failed} target(s) failed" if failed else ""
    deployment.finished_at = deployment.finished_at or changes.now
    deployment.next_batch_at = None
    deployment.updated_at = changes.now
    session.add(deployment)
    await session.flush()
    await changes.deployment(session, deployment, counts)
