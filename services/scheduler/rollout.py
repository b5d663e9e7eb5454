"""The rollout loop: advances running deployments batch by batch, in every scheduler process at once.

Each pass claims deployments one at a time with `SELECT … FOR UPDATE SKIP LOCKED`, so two processes
never advance the same deployment together, and every target changes from PENDING to ASSIGNED (with a
new assignment id) only under that lock and only if it is still PENDING: an attempt is assigned once.
A node runs one package operation at a time: a target is not assigned while its node works on another
deployment, checked again under an advisory lock on the node so two processes cannot both assign to it.
An assignment holds a lease that the node keeps alive while it is connected (dispatch.touch); a target
whose lease ran out is failed, so a node that vanished cannot hold a batch forever. Paused deployments
and cancelled ones whose nodes are still working are claimed too, only to expire leases and finish them.
A deployment that cannot be advanced is logged and skipped in that pass; the others go on. The loop
wakes on `NOTIFY convoy_rollout`, polls every `poll_seconds`, and deletes old events once a minute.
A target whose groups' maintenance windows are closed stays PENDING (windows.py) unless its deployment
overrides windows; it holds its batch open, so later batches wait for it as for any unfinished target.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, text
from sqlalchemy.orm import aliased
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
    Deployment,
    Event,
    Target,
)
from services.scheduler.notify import Listener
from services.scheduler.store import counts_of, finish_deployment
from services.scheduler.traces import dispatched
from services.scheduler.windows import (
    NOTHING_WAITS,
    WAIT_PREFIX,
    Waits,
    WindowBook,
    first_waiting_reason,
    show_waiting,
)

__all__ = ["RolloutLoop", "failure_budget_spent"]

log = logging.getLogger("convoy.scheduler.rollout")

CANARY_REASON = "canary batch done; resume to go on"
BUDGET_REASON = "failure budget spent"
# Advisory locks on nodes: two int4 keys, a key space apart from the one-bigint locks (events.py).
_NODE_LOCK_SPACE = zlib.crc32(b"scheduler.node") - 2**31
_PRUNE_EVERY = timedelta(minutes=1)
_PRUNE_BATCH = 1000
_PRUNE_BATCHES_PER_PASS = 50


def _node_key(server_id: uuid.UUID) -> int:
    return int.from_bytes(server_id.bytes[:4], "big", signed=True)


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
        windows: WindowBook | None = None,
    ) -> None:
        """`windows`: the groups' maintenance windows; None only for a loop that enforces none."""
        self.db, self.settings, self.owner, self.now = db, settings, owner, clock
        self.windows = windows
        self._listener = listener
        self._wake = asyncio.Event()
        # Passes run one at a time per process (run() and a test calling tick() must not overlap).
        self._lock = asyncio.Lock()
        self._pruned_at: datetime | None = None

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
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_seconds())
            except TimeoutError:
                pass

    def _idle_seconds(self) -> float:
        """poll_seconds, or less when a new deployment waits for a fresh read of the maintenance windows."""
        if self.windows is None or not self.windows.wanted:
            return self.settings.poll_seconds
        return min(self.settings.poll_seconds, self.windows.read_due_in())

    async def tick(self) -> int:
        """One pass over every deployment this process can claim; how many it advanced. A deployment
        that fails to advance is logged and left for the next pass: it must not stall the others."""
        async with self._lock:
            if self.windows is not None:
                await self.windows.refresh()
            done: list[uuid.UUID] = []
            advanced = 0
            while True:
                claimed: uuid.UUID | None = None
                try:
                    async with self.db.transaction() as session:
                        deployment = await self._claim(session, done)
                        if deployment is None:
                            break
                        claimed = deployment.id
                        done.append(claimed)
                        changes = Changes(self.now())
                        await self._advance(session, deployment, changes)
                        await changes.flush(session)
                    advanced += 1
                except Exception:
                    if claimed is None:
                        raise  # the claim itself failed (database away): the whole pass did
                    log.exception("deployment %s could not be advanced; skipped in this pass", claimed)
            await self._prune_now_and_then()
            return advanced

    async def _claim(self, session: AsyncSession, done: list[uuid.UUID]) -> Deployment | None:
        statement = (
            select(Deployment)
            .where(
                or_(
                    col(Deployment.state).in_((PENDING, RUNNING, PAUSED)),
                    and_(col(Deployment.state) == CANCELLED, col(Deployment.finished_at).is_(None)),
                )
            )
            .order_by(col(Deployment.created_at), col(Deployment.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if done:
            statement = statement.where(col(Deployment.id).not_in(done))
        return (await session.exec(statement)).first()

    async def _advance(self, session: AsyncSession, deployment: Deployment, changes: Changes) -> None:
        now = changes.now
        if deployment.state == CANCELLED:
            await self._wind_down(session, deployment, changes)
            return
        if deployment.state == PAUSED:
            await self._expire_leases(session, deployment, changes)
            counts = await counts_of(session, deployment.id)
            # Paused by its failures with nothing left to run: it has failed (an operator's pause waits).
            if deployment.state_reason.startswith(BUDGET_REASON) and all(
                state in FINAL_TARGET_STATES for state in counts
            ):
                await finish_deployment(session, deployment, counts, changes)
            return
        if deployment.state == PENDING:
            deployment.state, deployment.started_at = RUNNING, deployment.started_at or now
            await self._save(session, deployment, changes)
        await self._expire_leases(session, deployment, changes)
        counts = await counts_of(session, deployment.id)
        if all(state in FINAL_TARGET_STATES for state in counts):
            await finish_deployment(session, deployment, counts, changes)
            return
        if failure_budget_spent(deployment, counts.get(FAILED, 0)):
            failed = counts.get(FAILED, 0)
            reason = (
                f"{BUDGET_REASON}: {failed} target(s) failed, at most "
                f"{deployment.failure_budget + deployment.failure_baseline} allowed"
            )
            await self._pause(session, deployment, reason, counts, changes)
            return
        if not await self._next_batch(session, deployment, changes):
            return
        await self._assign(session, deployment, changes)

    async def _wind_down(self, session: AsyncSession, deployment: Deployment, changes: Changes) -> None:
        """A cancelled deployment whose nodes were still working: finished once none is."""
        await self._expire_leases(session, deployment, changes)
        counts = await counts_of(session, deployment.id)
        if any(counts.get(state, 0) for state in IN_FLIGHT):
            return
        deployment.finished_at = changes.now
        deployment.next_batch_at = None
        await self._save(session, deployment, changes, counts)

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
        """Assigns pending targets of started batches while fewer than batch_size are in flight, never to
        a node that is working on another deployment. Targets waiting for a maintenance window take no
        room and do not hold back the others of their batch."""
        waits = self._waits(deployment, changes.now)
        await show_waiting(session, deployment, waits, changes)
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
        assigned = await self._assign_free(session, deployment, waits, room, changes) if room > 0 else 0
        await self._explain_waiting(session, deployment, waits, in_flight + assigned > 0, changes)

    def _waits(self, deployment: Deployment, now: datetime) -> Waits:
        if self.windows is None or deployment.override_window:
            return NOTHING_WAITS
        return self.windows.waits(now, deployment.created_at)

    async def _assign_free(
        self, session: AsyncSession, deployment: Deployment, waits: Waits, room: int, changes: Changes
    ) -> int:
        """Assigns up to `room` targets that wait for no window; how many it assigned."""
        statement = (
            select(Target)
            .where(
                col(Target.deployment_id) == deployment.id,
                col(Target.current),
                col(Target.state) == PENDING,
                col(Target.batch) <= deployment.current_batch,
                ~_busy_elsewhere(),
            )
            .order_by(col(Target.batch), col(Target.hostname), col(Target.server_id))
            .limit(room)
            .with_for_update(of=Target)  # type: ignore[arg-type]
        )
        waiting = waits.condition()
        if waiting is not None:
            statement = statement.where(~waiting)
        deadline = timedelta(seconds=self.settings.task_deadline_seconds)
        grace = timedelta(seconds=self.settings.lease_seconds)
        assigned = 0
        for target in list(await session.exec(statement)):
            if not await self._node_free(session, target):
                continue
            target.state, target.assignment_id = "assigned", uuid.uuid4()
            target.approved = not deployment.strategy.get("require_approval", False)
            target.assigned_at = target.updated_at = changes.now
            target.deadline = changes.now + deadline
            target.lease_until = target.deadline + grace
            target.leased_by = self.owner
            target.traceparent = dispatched(deployment, target)
            session.add(target)
            changes.target(target)
            changes.node(target.server_id)
            assigned += 1
        await session.flush()
        return assigned

    async def _explain_waiting(
        self, session: AsyncSession, deployment: Deployment, waits: Waits, working: bool, changes: Changes
    ) -> None:
        """While the deployment does nothing but wait for maintenance windows, its state_reason says for
        which; it is cleared when it goes on. Written (and sent as an event) only when it changes, and
        never over a reason that is not about windows."""
        if not waits.shown:
            return
        reason = "" if working else await first_waiting_reason(session, deployment, waits)
        current = deployment.state_reason
        if current == reason or (current and not current.startswith(WAIT_PREFIX)):
            return
        deployment.state_reason = reason
        await self._save(session, deployment, changes)

    @staticmethod
    async def _node_free(session: AsyncSession, target: Target) -> bool:
        """Whether the node may get this target now: this transaction holds the node's advisory lock (held
        to commit; a node another process is assigning to right now is left for the next pass) and, seen
        after taking it, the node works on no other deployment."""
        connection = await session.connection()
        locked = (
            await connection.execute(
                text("SELECT pg_try_advisory_xact_lock(:space, :key)"),
                {"space": _NODE_LOCK_SPACE, "key": _node_key(target.server_id)},
            )
        ).scalar_one()
        if not locked:
            return False
        busy = select(_busy_elsewhere(target.server_id, target.deployment_id))
        return not (await connection.execute(busy)).scalar_one()

    async def _prune_now_and_then(self) -> None:
        """Events of deployments finished more than event_retention_days ago go, at most once a minute."""
        now = self.now()
        if self._pruned_at is not None and now - self._pruned_at < _PRUNE_EVERY:
            return
        self._pruned_at = now
        try:
            await self.prune_events(now)
        except Exception:  # noqa: BLE001 - retention waits for the next minute; the rollout goes on
            log.exception("deleting old events failed")

    async def prune_events(self, now: datetime) -> int:
        """Deletes old events in batches (one short transaction each); how many it deleted."""
        cutoff = now - timedelta(days=self.settings.event_retention_days)
        deleted = 0
        for _ in range(_PRUNE_BATCHES_PER_PASS):
            old = (
                select(Event.sequence)
                .join(Deployment, col(Deployment.id) == col(Event.deployment_id))
                .where(col(Deployment.finished_at) < cutoff)
                .limit(_PRUNE_BATCH)
            )
            async with self.db.transaction() as session:
                result = await session.exec(
                    delete(Event).where(col(Event.sequence).in_(old.scalar_subquery()))
                )  # type: ignore[call-overload]
            deleted += result.rowcount
            if result.rowcount < _PRUNE_BATCH:
                break
        if deleted:
            log.info("deleted %d event(s) of deployments finished before %s", deleted, cutoff.isoformat())
        return deleted


def _busy_elsewhere(
    server_id: object = Target.server_id, deployment_id: object = Target.deployment_id
) -> object:
    """The node has a current attempt in flight in a deployment other than this one
    (targets_node_in_flight). By default, for the target row of the enclosing query; given values, for
    that node and deployment."""
    other = aliased(Target)
    return exists().where(
        other.server_id == server_id,
        other.current,
        other.state.in_(IN_FLIGHT),
        other.deployment_id != deployment_id,
    )
