"""Deployments that start later: schedules made, read, changed and cancelled (ScheduleUseCases), and the
rows they share with the ScheduleLoop (schedule_loop.py) that starts their runs.

A schedule keeps one deployment waiting in SCHEDULED, without targets, for its next run. That deployment
holds the package in the catalog from the moment the schedule is made, so the package cannot be deleted
before the run; at the run it becomes the real deployment. Locks are taken schedule first, then its
waiting deployment without waiting for it (a Conflict to retry when it is locked), so these use cases never
deadlock with CancelDeployment, which locks the deployment first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, tuple_
from sqlmodel import col, select

from services.kit.context import current_call
from services.kit.db import AsyncSession
from services.kit.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from services.kit.pagination import page_size, parse_uuid, read_time, read_token, scope, write_token
from services.scheduler.events import Changes
from services.scheduler.messages import target_spec_to_proto
from services.scheduler.models import (
    ACTIVE,
    AT,
    CANCELLED,
    ROLLBACK,
    SCHEDULE_STATES,
    SCHEDULED,
    Deployment,
    Schedule,
)
from services.scheduler.planning import StrategySpec, check_strategy
from services.scheduler.schedule_times import When, check_when, first_run
from services.scheduler.service import (
    Core,
    CreateUseCase,
    DeploymentRequest,
    Plan,
    actor_name,
    new_deployment,
    summary,
)
from services.scheduler.upstream import schedule_holder

__all__ = [
    "ScheduleUseCases",
    "Scheduled",
    "SchedulePage",
    "describe",
    "schedule_request",
    "waiting_deployment",
    "lock_waiting",
    "cancel_with_deployment",
]

_REASON_CHARS = 1024


@dataclass(frozen=True)
class Scheduled:
    """What CreateDeployment with a schedule made: the schedule, its waiting deployment, and the plan as
    it would run now (the preview)."""

    schedule: Schedule
    deployment: Deployment
    plan: Plan


@dataclass(frozen=True)
class SchedulePage:
    items: list[Schedule]
    next_page_token: str


def describe(schedule: Schedule | When) -> str:
    """The schedule in words, for audit reasons and logs."""
    if schedule.kind == AT:
        at = schedule.run_at if isinstance(schedule, Schedule) else schedule.at
        return f"at {at.isoformat() if at else '?'}"
    return f"cron '{schedule.cron}' in {schedule.timezone}"


def schedule_request(schedule: Schedule) -> DeploymentRequest:
    """The deployment request a run of the schedule plans, as CreateDeployment would get it."""
    return DeploymentRequest(
        package_id=str(schedule.package_id),
        action=schedule.action,
        target=target_spec_to_proto(schedule.target_kind, schedule.target_value),
        strategy=StrategySpec(**schedule.strategy),
        override_window=schedule.override_window,
    )


def waiting_deployment(deployment: Deployment) -> Deployment:
    """A deployment as it waits for its run: SCHEDULED, no batches yet (they are planned at the run)."""
    deployment.state, deployment.state_reason = SCHEDULED, ""
    deployment.batch_count = deployment.current_batch = 0
    return deployment


def _check_schedulable(request: DeploymentRequest) -> None:
    if request.dry_run:
        raise InvalidArgument("a dry run cannot be scheduled; leave dry_run or the schedule out")
    if request.action == ROLLBACK:
        raise InvalidArgument(
            "a rollback cannot be scheduled: it undoes a deployment as it stands now; start it now instead"
        )


def _when_columns(when: When, now: datetime) -> dict[str, object]:
    return {
        "kind": when.kind,
        "run_at": when.at,
        "cron": when.cron,
        "timezone": when.timezone,
        "next_run_at": first_run(when, now),
    }


async def _lock_schedule(session: AsyncSession, schedule_id: str) -> Schedule:
    row_id = parse_uuid(schedule_id, "schedule id")
    statement = select(Schedule).where(col(Schedule.id) == row_id).with_for_update()
    schedule = (await session.exec(statement)).first()
    if schedule is None:
        raise NotFound(f"schedule {row_id} does not exist")
    return schedule


async def lock_waiting(session: AsyncSession, schedule: Schedule) -> Deployment | None:
    """The schedule's waiting deployment, locked without waiting: None while someone else holds it."""
    statement = (
        select(Deployment)
        .where(col(Deployment.id) == schedule.next_deployment_id, col(Deployment.state) == SCHEDULED)
        .with_for_update(skip_locked=True)
    )
    return (await session.exec(statement)).first()


async def _waiting_for_change(session: AsyncSession, schedule: Schedule) -> Deployment:
    if schedule.state != ACTIVE:
        raise FailedPrecondition(f"schedule {schedule.id} is {schedule.state}; only an active one changes")
    waiting = await lock_waiting(session, schedule)
    if waiting is None:
        raise Conflict(f"the waiting deployment of schedule {schedule.id} is being changed; retry")
    return waiting


def _stop(schedule: Schedule, state: str, now: datetime) -> None:
    schedule.state, schedule.next_run_at, schedule.next_deployment_id = state, None, None
    schedule.updated_at = now


async def cancel_with_deployment(
    core: Core, session: AsyncSession, deployment: Deployment, reason: str
) -> None:
    """CancelDeployment of a waiting deployment cancels its schedule too: nothing of it runs any more (a
    cron schedule included; a deployment that surprised its operator later would be worse than a schedule
    made again). The caller holds the deployment's lock and finishes the deployment itself."""
    if deployment.schedule_id is None:
        return
    schedule = await _lock_schedule(session, str(deployment.schedule_id))
    if schedule.state != ACTIVE or schedule.next_deployment_id != deployment.id:
        return
    _stop(schedule, CANCELLED, core.now())
    session.add(schedule)
    await core.audit.record(
        "schedule.cancel",
        f"schedule:{schedule.id}",
        reason=f"its waiting deployment {deployment.id} was cancelled: {reason}"[:_REASON_CHARS],
    )


def _order_key() -> tuple[ColumnElement[int], ColumnElement[datetime], ColumnElement[uuid.UUID]]:
    """Soonest next run first; schedules without one (done, cancelled) after them, by when they ended."""
    waits = case((col(Schedule.next_run_at).is_(None), 1), else_=0)
    when = func.coalesce(col(Schedule.next_run_at), col(Schedule.updated_at))
    return waits, when, col(Schedule.id)


class ScheduleUseCases:
    def __init__(self, core: Core, create: CreateUseCase) -> None:
        self.core, self.create = core, create

    async def schedule(self, request: DeploymentRequest, when: When) -> Scheduled:
        """CreateDeployment for later: checked and planned now (the preview), run at its time."""
        core, schedule_id, deployment_id = self.core, uuid.uuid4(), uuid.uuid4()
        principal = await core.authorize("schedule.create", f"schedule:{schedule_id}")
        _check_schedulable(request)
        now = core.now()
        when = check_when(when, now)
        plan = await self.create.plan(request)
        assert plan.package is not None  # only a rollback plans without a package
        await core.catalog.add_reference(plan.package.id, schedule_holder(schedule_id))
        who, request_id = actor_name(principal), current_call().request_id
        deployment = waiting_deployment(
            new_deployment(
                deployment_id,
                plan,
                request,
                created_by=who,
                now=now,
                request_id=request_id,
                schedule_id=schedule_id,
            )
        )
        schedule = Schedule(
            id=schedule_id,
            package_id=uuid.UUID(plan.package.id),
            software_name=plan.software_name,
            version=plan.package.version,
            action=plan.action,
            target_kind=plan.target_kind,
            target_value=plan.target_value,
            strategy=request.strategy.as_json(),
            override_window=request.override_window,
            state=ACTIVE,
            next_deployment_id=deployment_id,
            created_by=who[:200],
            created_at=now,
            updated_at=now,
            request_id=request_id[:128],
            **_when_columns(when, now),
        )
        async with core.db.transaction() as session:
            changes = Changes(now)
            session.add(schedule)
            session.add(deployment)
            await session.flush()
            await changes.deployment(session, deployment, {})
            reason = f"{describe(when)}: {summary(plan)} now; waiting deployment {deployment_id}"
            await core.audit.record("schedule.create", f"schedule:{schedule_id}", reason=reason)
            if request.override_window:
                await core.audit.record(
                    "deployment.override_window",
                    f"deployment:{deployment_id}",
                    reason="will dispatch outside the maintenance windows of its nodes' groups",
                )
            await changes.flush(session)
        return Scheduled(schedule, deployment, plan)

    async def get(self, schedule_id: str) -> Schedule:
        self.core.require_reader()
        row_id = parse_uuid(schedule_id, "schedule id")
        async with self.core.db.transaction() as session:
            schedule = await session.get(Schedule, row_id)
        if schedule is None:
            raise NotFound(f"schedule {row_id} does not exist")
        return schedule

    async def list(self, state: str, *, size: int, token: str) -> SchedulePage:
        """By next run, soonest first; done and cancelled schedules after the active ones."""
        self.core.require_reader()
        if state and state not in SCHEDULE_STATES:
            raise InvalidArgument(f"state must be one of {', '.join(SCHEDULE_STATES)}")
        listing = scope("schedules", state)
        limit, after = page_size(size), read_token(token, listing, "w", "t", "id")
        key = _order_key()
        statement = select(Schedule)
        if state:
            statement = statement.where(col(Schedule.state) == state)
        if after is not None:
            statement = statement.where(tuple_(*key) > _cursor(after))
        async with self.core.db.transaction() as session:
            rows = list(await session.exec(statement.order_by(*key).limit(limit + 1)))
        more, rows = len(rows) > limit, rows[:limit]
        if not more:
            return SchedulePage(rows, "")
        last = rows[-1]
        moment = last.next_run_at or last.updated_at
        waits = "0" if last.next_run_at else "1"
        return SchedulePage(rows, write_token(listing, w=waits, t=moment.isoformat(), id=str(last.id)))

    async def update(self, schedule_id: str, when: When | None, strategy: StrategySpec | None) -> Schedule:
        """A new time or cron and/or a new strategy for the runs to come; only while active."""
        core = self.core
        await core.authorize("schedule.update", f"schedule:{schedule_id[:64]}")
        if when is None and strategy is None:
            raise InvalidArgument("nothing to change: give a schedule, a strategy or both")
        now = core.now()
        when = check_when(when, now) if when is not None else None
        if strategy is not None:
            check_strategy(strategy)
        async with core.db.transaction() as session:
            schedule = await _lock_schedule(session, schedule_id)
            waiting = await _waiting_for_change(session, schedule)
            changed = []
            if when is not None:
                for name, value in _when_columns(when, now).items():
                    setattr(schedule, name, value)
                changed.append(describe(when))
            if strategy is not None:
                schedule.strategy = waiting.strategy = strategy.as_json()
                changed.append(f"strategy {schedule.strategy or 'defaults'}")
            schedule.updated_at = waiting.updated_at = now
            session.add_all([schedule, waiting])
            await session.flush()
            changes = Changes(now)
            await changes.deployment(session, waiting, {})
            await core.audit.record("schedule.update", f"schedule:{schedule.id}", reason="; ".join(changed))
            await changes.flush(session)
            return schedule

    async def cancel(self, schedule_id: str) -> Schedule:
        """No more runs; the waiting deployment is cancelled (runs already started go on). The waiting
        deployment keeps its reference to the package, like any deployment that ended."""
        core = self.core
        principal = await core.authorize("schedule.cancel", f"schedule:{schedule_id[:64]}")
        async with core.db.transaction() as session:
            schedule = await _lock_schedule(session, schedule_id)
            waiting = await _waiting_for_change(session, schedule)
            now = core.now()
            reason = f"schedule {schedule.id} cancelled by {actor_name(principal)}"
            waiting.state, waiting.state_reason = CANCELLED, reason
            waiting.finished_at = waiting.updated_at = now
            _stop(schedule, CANCELLED, now)
            session.add_all([schedule, waiting])
            await session.flush()
            changes = Changes(now)
            await changes.deployment(session, waiting, {})
            await core.audit.record(
                "schedule.cancel",
                f"schedule:{schedule.id}",
                reason=f"waiting deployment {waiting.id} cancelled",
            )
            await changes.flush(session)
            return schedule


def _cursor(after: dict[str, str]) -> tuple[int, datetime, uuid.UUID]:
    if after["w"] not in ("0", "1"):
        raise InvalidArgument("page_token is not valid")
    return int(after["w"]), read_time(after["t"]), parse_uuid(after["id"], "page_token id")
