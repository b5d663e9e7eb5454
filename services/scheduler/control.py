"""An operator's hand on a running deployment: pause, resume, cancel, retry failed targets, approve."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, select

from services.kit.db import AsyncSession
from services.kit.errors import FailedPrecondition, InvalidArgument
from services.kit.pagination import parse_uuid
from services.kit.text import check_text
from services.scheduler import dispatch
from services.scheduler.events import Changes
from services.scheduler.models import (
    AWAITING_APPROVAL,
    CANCELLED,
    FAILED,
    IN_FLIGHT,
    PAUSED,
    PENDING,
    RUNNING,
    SCHEDULED,
    SUCCEEDED,
    Deployment,
    Target,
)
from services.scheduler.schedules import cancel_with_deployment
from services.scheduler.service import Core, actor_name
from services.scheduler.store import counts_of, load_deployment

__all__ = ["DeploymentView", "ControlUseCases", "MAX_SERVER_IDS"]

MAX_SERVER_IDS = 10_000
_REASON_CHARS = 1000


class DeploymentView:
    """A deployment with its counts per target state."""

    def __init__(self, deployment: Deployment, counts: dict[str, int]) -> None:
        self.deployment, self.counts = deployment, counts


def _server_ids(values: Sequence[str]) -> list[uuid.UUID]:
    if len(values) > MAX_SERVER_IDS:
        raise InvalidArgument(f"server_ids may name at most {MAX_SERVER_IDS} servers")
    return [parse_uuid(value, "server id") for value in values]


class ControlUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def pause(self, deployment_id: str, reason: str) -> DeploymentView:
        core = self.core
        principal = await core.authorize("deployment.pause", f"deployment:{deployment_id[:64]}")
        reason = check_text(reason, _REASON_CHARS, "reason") or f"paused by {actor_name(principal)}"
        async with core.db.transaction() as session:
            deployment = await load_deployment(session, deployment_id, lock=True)
            if deployment.state not in (PENDING, RUNNING):
                raise FailedPrecondition(
                    f"deployment {deployment.id} is {deployment.state}; only a running one pauses"
                )
            deployment.state, deployment.state_reason = PAUSED, reason
            await core.audit.record("deployment.pause", f"deployment:{deployment.id}", reason=reason)
            return await self._saved(session, deployment)

    async def resume(self, deployment_id: str) -> DeploymentView:
        core = self.core
        await core.authorize("deployment.resume", f"deployment:{deployment_id[:64]}")
        async with core.db.transaction() as session:
            deployment = await load_deployment(session, deployment_id, lock=True)
            if deployment.state != PAUSED:
                raise FailedPrecondition(
                    f"deployment {deployment.id} is {deployment.state}; only a paused one resumes"
                )
            counts = await counts_of(session, deployment.id)
            # The failures so far are accepted: the budget applies to new ones.
            deployment.failure_baseline = counts.get(FAILED, 0)
            deployment.state, deployment.state_reason = RUNNING, ""
            await core.audit.record("deployment.resume", f"deployment:{deployment.id}")
            return await self._saved(session, deployment, wake=True)

    async def cancel(self, deployment_id: str, reason: str) -> DeploymentView:
        """Pending targets are cancelled at once; nodes already working are told to stop. A deployment
        waiting for its schedule cancels the schedule too."""
        core = self.core
        principal = await core.authorize("deployment.cancel", f"deployment:{deployment_id[:64]}")
        reason = check_text(reason, _REASON_CHARS, "reason") or f"cancelled by {actor_name(principal)}"
        async with core.db.transaction() as session:
            deployment = await load_deployment(session, deployment_id, lock=True)
            if deployment.state not in (SCHEDULED, PENDING, RUNNING, PAUSED):
                raise FailedPrecondition(
                    f"deployment {deployment.id} is {deployment.state}; it cannot be cancelled"
                )
            if deployment.state == SCHEDULED:
                await cancel_with_deployment(core, session, deployment, reason)
            now = core.now()
            changes = Changes(now)
            for target in await self._current(session, deployment.id, (PENDING, *IN_FLIGHT)):
                if target.state == PENDING:
                    target.state, target.message, target.finished_at = CANCELLED, reason, now
                    changes.target(target)
                else:
                    target.cancel_requested = True
                    changes.node(target.server_id)
                target.updated_at = now
                session.add(target)
            deployment.state, deployment.state_reason = CANCELLED, reason
            # Finished once no node is working on it any more: until then the rollout still expires the
            # leases of nodes that never confirm, and finishes it when the last one is final.
            counts = await counts_of(session, deployment.id)
            if not any(counts.get(state, 0) for state in IN_FLIGHT):
                deployment.finished_at = now
            else:
                changes.wake_rollout()
            await core.audit.record("deployment.cancel", f"deployment:{deployment.id}", reason=reason)
            return await self._saved(session, deployment, changes=changes)

    async def retry(self, deployment_id: str, server_ids: Sequence[str]) -> tuple[DeploymentView, int]:
        """New attempts for failed targets (all, or those named); the deployment runs again."""
        core = self.core
        await core.authorize("deployment.retry", f"deployment:{deployment_id[:64]}")
        wanted = set(_server_ids(server_ids))
        async with core.db.transaction() as session:
            deployment = await load_deployment(session, deployment_id, lock=True)
            if deployment.state not in (RUNNING, PAUSED, FAILED, SUCCEEDED):
                raise FailedPrecondition(
                    f"deployment {deployment.id} is {deployment.state}; it cannot be retried"
                )
            now = core.now()
            changes = Changes(now)
            failed = [
                t
                for t in await self._current(session, deployment.id, (FAILED,))
                if not wanted or t.server_id in wanted
            ]
            for old in failed:
                old.current, old.updated_at = False, now
                session.add(old)
            await session.flush()
            for old in failed:
                fresh = _next_attempt(old, now)
                session.add(fresh)
                changes.target(fresh)
            if failed:
                # The retried attempts are no longer current, so the counts hold only the failures left.
                # A running deployment keeps its budget; one that stopped (paused or finished) accepts
                # the failures not retried, as resume does.
                remaining = (await counts_of(session, deployment.id)).get(FAILED, 0)
                deployment.failure_baseline = (
                    min(deployment.failure_baseline, remaining) if deployment.state == RUNNING else remaining
                )
                deployment.state, deployment.state_reason, deployment.finished_at = RUNNING, "", None
            await core.audit.record(
                "deployment.retry",
                f"deployment:{deployment.id}",
                reason=f"{len(failed)} failed target(s) retried",
            )
            view = await self._saved(session, deployment, changes=changes, wake=bool(failed))
            return view, len(failed)

    async def approve(self, deployment_id: str, server_ids: Sequence[str]) -> tuple[DeploymentView, int]:
        core = self.core
        await core.authorize("deployment.approve", f"deployment:{deployment_id[:64]}")
        wanted = set(_server_ids(server_ids))
        async with core.db.transaction() as session:
            deployment = await load_deployment(session, deployment_id, lock=True)
            if deployment.state not in (RUNNING, PAUSED):
                raise FailedPrecondition(
                    f"deployment {deployment.id} is {deployment.state}; nothing can be approved"
                )
            now = core.now()
            changes = Changes(now)
            # Every node in flight, also those still downloading: they go on as soon as they are ready.
            waiting = [
                t
                for t in await self._current(session, deployment.id, IN_FLIGHT)
                if not t.approved and (not wanted or t.server_id in wanted)
            ]
            timing = dispatch.timing()
            for target in waiting:
                target.approved, target.updated_at = True, now
                # The wait for the operator does not count against the node's time for the work.
                target.deadline = now + timing.task_deadline
                target.lease_until = max(
                    target.lease_until or target.deadline, target.deadline + timing.lease
                )
                session.add(target)
                if target.state == AWAITING_APPROVAL:
                    changes.node(target.server_id)
            await core.audit.record(
                "deployment.approve",
                f"deployment:{deployment.id}",
                reason=f"{len(waiting)} target(s) approved",
            )
            view = await self._saved(session, deployment, changes=changes)
            return view, len(waiting)

    @staticmethod
    async def _current(
        session: AsyncSession, deployment_id: uuid.UUID, states: tuple[str, ...]
    ) -> list[Target]:
        statement = (
            select(Target)
            .where(
                col(Target.deployment_id) == deployment_id, col(Target.current), col(Target.state).in_(states)
            )
            .order_by(col(Target.batch), col(Target.hostname), col(Target.server_id))
            .with_for_update()
        )
        return list(await session.exec(statement))

    async def _saved(
        self,
        session: AsyncSession,
        deployment: Deployment,
        *,
        changes: Changes | None = None,
        wake: bool = False,
    ) -> DeploymentView:
        changes = changes or Changes(self.core.now())
        deployment.updated_at = changes.now
        session.add(deployment)
        await session.flush()
        counts = await counts_of(session, deployment.id)
        await changes.deployment(session, deployment, counts)
        if wake:
            changes.wake_rollout()
        await changes.flush(session)
        return DeploymentView(deployment, counts)


def _next_attempt(old: Target, now: object) -> Target:
    """The same target, package and batch as a new PENDING attempt (assigned anew by the rollout)."""
    keep = old.model_dump(
        include={
            "deployment_id",
            "server_id",
            "hostname",
            "batch",
            "previous_version",
            "action",
            "package_id",
            "name",
            "version",
            "release",
            "format",
            "arch",
            "sha256",
            "size",
            "signature",
            "deploy_profile",
            "group_ids",
        }
    )
    return Target(**keep, attempt=old.attempt + 1, current=True, state=PENDING, updated_at=now)
