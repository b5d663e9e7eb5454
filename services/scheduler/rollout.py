"""The rollout loop: advances running deployments batch by batch, in every scheduler process at once.

Each pass claims deployments one at a time with `SELECT … FOR UPDATE SKIP LOCKED`, so two processes
never advance the same deployment together, and every target changes from PENDING to ASSIGNED (with a
new assignment id) only under that lock and only if it is still PENDING: an attempt is assigned once.
An assignment holds a lease until its deadline plus `lease_seconds`; a target whose node has not
reported by then is failed, so a node that vanished cannot hold a batch forever. The loop wakes on
`NOTIFY convoy_rollout` and polls every `poll_seconds` besides.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from services.kit.db import AsyncSession, Database
from services.scheduler.config import SchedulerSettings
from services.scheduler.events import ROLLOUT_CHANNEL, Changes
from services.scheduler.models import (
    CANCELLED,
    FAILED,
    FINAL_TARGET_STATES,
    IN_FLIGHT,
    PAUSED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    Deployment,
    Target,
)
from services.scheduler.notify import Listener
from services.scheduler.store import counts_of

__all__ = ["RolloutLoop", "failure_budget_spent"]

log = logging.getLogger("convoy.scheduler.rollout")

CANARY_REASON = "canary batch done; resume to go on"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def failure_budget_spent(deployment: Deployment, failed: int) -> bool:
    """More failures than allowed, not counting those an operator accepted by resuming."""
    return failed - deployment.failure_baseline > deployment.failure_budget


class RolloutLoop:
    def __init__(
        self,
        db: Database,
        settings: SchedulerSettings,
        *,
        owner: str,
        listener: Listener | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.db, self.settings, self.owner, self.now = db, settings, owner, clock
        self._listener = listener
        self._wake = asyncio.Event()
        # Passes run one at a time per process (run() and a test calling tick() must not overlap).
        self._lock = asyncio.Lock()

    def wake(self, _payload: str = "") -> None:
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled. A failing pass (database away) is logged and retried on the next wake-up."""
        if self._listener is None:
            await self._loop()
            return
        with self._listener.subscribe(ROLLOUT_CHANNEL, self.wake):
            await self._loop()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the loop must outlive a pass that failed
                log.exception("a rollout pass failed; retrying")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_seconds)
            except TimeoutError:
                pass

    async def tick(self) -> int:
        """One pass over every active deployment this process can claim; how many it advanced."""
        async with self._lock:
            done: list[uuid.UUID] = []
            while True:
                async with self.db.transaction() as session:
                    deployment = await self._claim(session, done)
                    if deployment is None:
                        return len(done)
                    done.append(deployment.id)
                    changes = Changes(self.now())
                    await self._advance(session, deployment, changes)
                    await changes.flush(session)

    async def _claim(self, session: AsyncSession, done: list[uuid.UUID]) -> Deployment | None:
        statement = (
            select(Deployment)
            .where(col(Deployment.state).in_((PENDING, RUNNING)))
            .order_by(col(Deployment.created_at), col(Deployment.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if done:
            statement = statement.where(col(Deployment.id).not_in(done))
        return (await session.exec(statement)).first()

    async def _advance(self, session: AsyncSession, deployment: Deployment, changes: Changes) -> None:
        now = changes.now
        if deployment.state == PENDING:
            deployment.state, deployment.started_at = RUNNING, deployment.started_at or now
            await self._save(session, deployment, changes)
        await self._expire_leases(session, deployment, changes)
        counts = await counts_of(session, deployment.id)
        if all(state in FINAL_TARGET_STATES for state in counts):
            await self._finish(session, deployment, counts, changes)
            return
        if failure_budget_spent(deployment, counts.get(FAILED, 0)):
            failed = counts.get(FAILED, 0)
            reason = (
                f"failure budget spent: {failed} target(s) failed, at most "
                f"{deployment.failure_budget + deployment.failure_baseline} allowed"
            )
            await self._pause(session, deployment, reason, counts, changes)
            return
        if not await self._next_batch(session, deployment, changes):
            return
        await self._assign(session, deployment, changes)

    async def _save(
        self,
        session: AsyncSession,
        deployment: Deployment,
        changes: Changes,
        counts: dict[str, int] | None = None,
    ) -> None:
        deployment.updated_at = changes.now
        session.add(deployment)
        await session.flush()
        await changes.deployment(session, deployment, counts)

    async def _pause(
        self,
        session: AsyncSession,
        deployment: Deployment,
        reason: str,
        counts: dict[str, int],
        changes: Changes,
    ) -> None:
        deployment.state, deployment.state_reason = PAUSED, reason
        log.info("deployment %s paused: %s", deployment.id, reason)
        await self._save(session, deployment, changes, counts)

    async def _finish(
        self, session: AsyncSession, deployment: Deployment, counts: dict[str, int], changes: Changes
    ) -> None:
        failed = counts.get(FAILED, 0)
        deployment.state = FAILED if failed else SUCCEEDED
        deployment.state_reason = f"{failed} target(s) failed" if failed else ""
        deployment.finished_at = changes.now
        deployment.next_batch_at = None
        await self._save(session, deployment, changes, counts)

    async def _expire_leases(self, session: AsyncSession, deployment: Deployment, changes: Changes) -> None:
        statement = (
            select(Target)
            .where(
                col(Target.deployment_id) == deployment.id,
                col(Target.current),
                col(Target.state).in_(IN_FLIGHT),
                col(Target.lease_until) < changes.now,
            )
            .with_for_update(skip_locked=True)
        )
        for target in await session.exec(statement):
            cancelled = target.cancel_requested
            target.state = CANCELLED if cancelled else FAILED
            target.message = (
                "cancelled; the node did not confirm before the deadline"
                if cancelled
                else "no result from the node before the deadline"
            )
            target.finished_at = target.updated_at = changes.now
            session.add(target)
            changes.target(target)
        await session.flush()

    async def _batch_final(self, session: AsyncSession, deployment: Deployment, batch: int) -> bool:
        """Whether every target of the batches up to `batch` is final."""
        statement = select(func.count()).where(
            col(Target.deployment_id) == deployment.id,
            col(Target.current),
            col(Target.batch) <= batch,
            col(Target.state).not_in(FINAL_TARGET_STATES),
        )
        return (await session.exec(statement)).one() == 0

    async def _next_batch(self, session: AsyncSession, deployment: Deployment, changes: Changes) -> bool:
        """Moves to the next batch when the current one is done (canary and pauses between batches
        permitting); False when nothing may be assigned in this pass."""
        now, between = changes.now, int(deployment.strategy.get("pause_between_batches_seconds", 0))
        if deployment.current_batch == 0:
            deployment.current_batch = 1
            await self._save(session, deployment, changes)
            return True
        while deployment.current_batch < deployment.batch_count and await self._batch_final(
            session, deployment, deployment.current_batch
        ):
            if (
                deployment.strategy.get("canary")
                and deployment.current_batch == 1
                and not deployment.canary_done
            ):
                deployment.canary_done = True
                await self._pause(
                    session, deployment, CANARY_REASON, await counts_of(session, deployment.id), changes
                )
                return False
            if between > 0:
                if deployment.next_batch_at is None:
                    deployment.next_batch_at = now + timedelta(seconds=between)
                    session.add(deployment)
                if now < deployment.next_batch_at:
                    return True  # retried targets of started batches may still go
                deployment.next_batch_at = None
            deployment.current_batch += 1
            await self._save(session, deployment, changes)
        return True

    async def _assign(self, session: AsyncSession, deployment: Deployment, changes: Changes) -> None:
        """Assigns pending targets of started batches while fewer than batch_size are in flight."""
        in_flight = (
            await session.exec(
                select(func.count()).where(
                    col(Target.deployment_id) == deployment.id,
                    col(Target.current),
                    col(Target.state).in_(IN_FLIGHT),
                )
            )
        ).one()
        room = deployment.batch_size - in_flight
        if room <= 0:
            return
        statement = (
            select(Target)
            .where(
                col(Target.deployment_id) == deployment.id,
                col(Target.current),
                col(Target.state) == PENDING,
                col(Target.batch) <= deployment.current_batch,
            )
            .order_by(col(Target.batch), col(Target.hostname), col(Target.server_id))
            .limit(room)
            .with_for_update()
        )
        deadline = timedelta(seconds=self.settings.task_deadline_seconds)
        grace = timedelta(seconds=self.settings.lease_seconds)
        for target in list(await session.exec(statement)):
            target.state, target.assignment_id = "assigned", uuid.uuid4()
            target.approved = not deployment.strategy.get("require_approval", False)
            target.assigned_at = target.updated_at = changes.now
            target.deadline = changes.now + deadline
            target.lease_until = target.deadline + grace
            target.leased_by = self.owner
            session.add(target)
            changes.target(target)
            changes.node(target.server_id)
        await session.flush()
