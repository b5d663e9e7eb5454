"""The schedule loop: starts the runs of due schedules, in every scheduler process at once.

Each pass claims due schedules one at a time with `SELECT … FOR UPDATE SKIP LOCKED` (their waiting
deployment too, without waiting for it), so two processes never start one run twice. A run is planned at
its time, exactly as CreateDeployment plans now, and the waiting deployment becomes the real one with its
targets in the same transaction. A one-off schedule is then done; a cron schedule waits for its next tick
after now with a new waiting deployment, so a scheduler that was down starts a missed run once, late, and
not once per tick it missed. A tick that comes while the schedule's previous run has not finished is
skipped (the runs would only queue behind each other). When a run cannot be planned because a service is
unavailable, the schedule is tried again on the next pass; when the request itself no longer works (the
target group was deleted …), that run's deployment fails with the reason and a cron schedule goes on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlmodel import col, select

from services.kit.audit_client import FAILURE, SUCCESS
from services.kit.context import current_call, service_call
from services.kit.db import AsyncSession
from services.kit.errors import DomainError, Unavailable
from services.scheduler.events import Changes
from services.scheduler.models import (
    ACTIVE,
    CRON,
    DONE,
    FAILED,
    FINAL_DEPLOYMENT_STATES,
    SCHEDULED,
    Deployment,
    Schedule,
)
from services.scheduler.schedule_times import next_tick
from services.scheduler.schedules import describe, lock_waiting, schedule_request, waiting_deployment
from services.scheduler.service import (
    Core,
    CreateUseCase,
    DeploymentRequest,
    Plan,
    new_deployment,
    summary,
    write_deployment,
)
from services.scheduler.upstream import schedule_holder

__all__ = ["ScheduleLoop"]

log = logging.getLogger("convoy.scheduler.schedules")

_REASON_CHARS = 1024
# What a waiting deployment keeps when the next one is made from it.
_CARRIED = (
    "package_id",
    "software_name",
    "version",
    "release",
    "format",
    "arch",
    "action",
    "target_kind",
    "target_value",
    "batch_size",
    "failure_budget",
    "origin",
    "schedule_id",
    "created_by",
    "override_window",
)


class ScheduleLoop:
    def __init__(
        self,
        core: Core,
        create: CreateUseCase,
        *,
        poll_seconds: float,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.core, self.create, self.poll_seconds = core, create, poll_seconds
        self.now = clock or core.now
        # Passes run one at a time per process (run() and a test calling tick() must not overlap).
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        """Until cancelled. A failing pass (database away) is logged and retried after the next wait."""
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the loop must outlive a pass that failed
                log.exception("a schedule pass failed; retrying")
            await asyncio.sleep(self.poll_seconds)

    async def tick(self) -> int:
        """One pass over every due schedule this process can claim; how many runs it started or failed."""
        async with self._lock:
            seen: list[uuid.UUID] = []
            ran = 0
            while True:
                with service_call("scheduler", "schedule"):
                    outcome = await self._next(seen)
                if outcome is None:
                    return ran
                ran += outcome

    async def _next(self, seen: list[uuid.UUID]) -> bool | None:
        """Claims one due schedule and runs it: None when none is left, else whether a run happened."""
        now, claimed = self.now(), None
        try:
            async with self.core.db.transaction() as session:
                schedule = await _claim(session, now, seen)
                if schedule is None:
                    return None
                claimed = schedule.id
                seen.append(claimed)
                waiting = await lock_waiting(session, schedule)
                if waiting is None:
                    return False  # an operator is changing it right now: the next pass sees the outcome
                return await self._run(session, schedule, waiting, now)
        except Unavailable as exc:
            if claimed is None:
                raise
            log.warning("schedule %s waits for the next pass: %s", claimed, exc.message)
        except Exception:
            if claimed is None:
                raise  # the claim itself failed (database away): the whole pass did
            log.exception("schedule %s could not run; retried on the next pass", claimed)
        return False

    async def _run(
        self, session: AsyncSession, schedule: Schedule, waiting: Deployment, now: datetime
    ) -> bool:
        busy = await _unfinished_run(session, schedule)
        if busy is not None:
            await self._skip(session, schedule, busy, now)
            return False
        request = schedule_request(schedule)
        plan, error = await self._plan(request, waiting)
        following = await self._following(schedule, waiting, now) if schedule.kind == CRON else None
        changes = Changes(now)
        if plan is not None:
            await self._start(session, schedule, waiting, plan, request, changes)
            outcome = f"started deployment {waiting.id}: {summary(plan)}"
        else:
            await _fail(session, waiting, error, changes)
            outcome = f"could not start deployment {waiting.id}: {error}"
        _record_run(schedule, waiting, error, now)
        if following is not None:
            session.add(following)
            await session.flush()
            await changes.deployment(session, following, {})
            schedule.next_run_at = next_tick(schedule.cron, schedule.timezone, now)
            schedule.next_deployment_id = following.id
        else:
            schedule.state, schedule.next_run_at, schedule.next_deployment_id = DONE, None, None
        session.add(schedule)
        await self.core.audit.record(
            "schedule.fire",
            f"schedule:{schedule.id}",
            result=FAILURE if error else SUCCESS,
            reason=f"{describe(schedule)}: {outcome}"[:_REASON_CHARS],
        )
        await changes.flush(session)
        log.info("schedule %s ran: %s", schedule.id, outcome)
        return True

    async def _plan(self, request: DeploymentRequest, waiting: Deployment) -> tuple[Plan | None, str]:
        """The run planned now with its packages held, or why it cannot start; Unavailable goes up (the
        schedule is tried again on the next pass, its run not spent)."""
        try:
            plan = await self.create.plan(request)
            await self.create.add_references(waiting.id, plan, schedule_holder(waiting.schedule_id))
        except Unavailable:
            raise
        except DomainError as exc:
            return None, exc.message
        return plan, ""

    @staticmethod
    async def _start(
        session: AsyncSession,
        schedule: Schedule,
        waiting: Deployment,
        plan: Plan,
        request: DeploymentRequest,
        changes: Changes,
    ) -> None:
        """The waiting deployment becomes the planned one (PENDING, with its targets); the rollout takes it."""
        fresh = new_deployment(
            waiting.id,
            plan,
            request,
            created_by=schedule.created_by,
            now=changes.now,
            request_id=current_call().request_id,
            schedule_id=schedule.id,
        )
        for name, value in fresh.model_dump(exclude={"id", "created_at"}).items():
            setattr(waiting, name, value)
        await write_deployment(session, waiting, plan, changes)

    async def _following(self, schedule: Schedule, waiting: Deployment, now: datetime) -> Deployment:
        """The deployment that waits for the next tick, holding the package from now on. A package the
        catalog no longer has is no reason to stop the schedule: that run fails and says why."""
        following = waiting_deployment(
            Deployment(
                **waiting.model_dump(include=set(_CARRIED)),
                id=uuid.uuid4(),
                strategy=dict(schedule.strategy),
                state=SCHEDULED,
                request_id=current_call().request_id,
                created_at=now,
                updated_at=now,
            )
        )
        try:
            await self.core.catalog.add_reference(str(schedule.package_id), schedule_holder(schedule.id))
        except Unavailable:
            raise
        except DomainError as exc:
            log.warning("schedule %s: the next run holds no package: %s", schedule.id, exc.message)
        return following

    async def _skip(self, session: AsyncSession, schedule: Schedule, busy: Deployment, now: datetime) -> None:
        """The tick passes without a run; the waiting deployment waits for the next one."""
        missed = schedule.next_run_at
        schedule.next_run_at = next_tick(schedule.cron, schedule.timezone, now)
        schedule.last_error = (
            f"the run of {missed.isoformat() if missed else '?'} was skipped: the previous run "
            f"{busy.id} is still {busy.state}"
        )
        schedule.updated_at = now
        session.add(schedule)
        await self.core.audit.record(
            "schedule.fire", f"schedule:{schedule.id}", result=FAILURE, reason=schedule.last_error
        )


async def _claim(session: AsyncSession, now: datetime, seen: list[uuid.UUID]) -> Schedule | None:
    statement = (
        select(Schedule)
        .where(col(Schedule.state) == ACTIVE, col(Schedule.next_run_at) <= now)
        .order_by(col(Schedule.next_run_at), col(Schedule.id))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if seen:
        statement = statement.where(col(Schedule.id).not_in(seen))
    return (await session.exec(statement)).first()


async def _unfinished_run(session: AsyncSession, schedule: Schedule) -> Deployment | None:
    """The previous run of a cron schedule while it has not finished (one-off schedules have none)."""
    if schedule.kind != CRON or schedule.last_deployment_id is None:
        return None
    previous = await session.get(Deployment, schedule.last_deployment_id)
    if previous is None or previous.state in FINAL_DEPLOYMENT_STATES:
        return None
    return previous


async def _fail(session: AsyncSession, waiting: Deployment, error: str, changes: Changes) -> None:
    waiting.state = FAILED
    waiting.state_reason = f"the scheduled run could not start: {error}"[:_REASON_CHARS]
    waiting.finished_at = waiting.updated_at = changes.now
    session.add(waiting)
    await session.flush()
    await changes.deployment(session, waiting, {})


def _record_run(schedule: Schedule, waiting: Deployment, error: str, now: datetime) -> None:
    schedule.last_run_at, schedule.last_deployment_id = now, waiting.id
    schedule.last_error = error[:2048]
    schedule.updated_at = now
