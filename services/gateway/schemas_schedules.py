"""JSON shapes of deployment schedules (and of a deployment created with one), and their conversion to and
from scheduler messages."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from services.gateway.schemas import Input
from services.gateway.schemas_deployments import (
    ACTION,
    Action,
    DeploymentCreate,
    DeploymentCreated,
    StrategyModel,
    StrategyPublic,
    TargetPublic,
    strategy_out,
    target_out,
)
from services.gateway.schemas_enums import json_enum
from services.kit.timestamps import from_timestamp, to_timestamp

__all__ = [
    "ScheduleState",
    "SCHEDULE_STATE_VALUES",
    "ScheduleIn",
    "ScheduleOut",
    "DeploymentCreateScheduled",
    "DeploymentCreatedScheduled",
    "ScheduleUpdate",
    "SchedulePublic",
    "SchedulePage",
    "schedule_in",
    "schedule_out",
]

SCHEDULE_STATE = json_enum(sched_pb.ScheduleState)
ScheduleState, SCHEDULE_STATE_VALUES = SCHEDULE_STATE.type, SCHEDULE_STATE.values


class ScheduleIn(Input):
    """Once at `at` (ISO-8601 with its UTC offset), or on every tick of `cron` (five fields: minute hour
    day-of-month month day-of-week) in `timezone` (an IANA name; UTC when left out)."""

    at: AwareDatetime | None = None
    cron: str | None = Field(None, max_length=128, examples=["0 2 * * 6"])
    timezone: str = Field("", max_length=64, examples=["Asia/Shanghai"])

    @model_validator(mode="after")
    def _at_or_cron(self) -> ScheduleIn:
        if (self.at is None) == (self.cron is None):
            raise ValueError("give exactly one of at or cron")
        if self.timezone and self.cron is None:
            raise ValueError("timezone goes with cron (at carries its own UTC offset)")
        return self

    def to_proto(self) -> sched_pb.Schedule:
        if self.at is not None:
            return sched_pb.Schedule(at=to_timestamp(self.at, "schedule.at"))
        return sched_pb.Schedule(cron=sched_pb.CronSchedule(expression=self.cron, timezone=self.timezone))


class ScheduleOut(BaseModel):
    """`at` for a one-off schedule; `cron` and `timezone` for a recurring one."""

    at: datetime | None = None
    cron: str | None = None
    timezone: str | None = None


class DeploymentCreateScheduled(DeploymentCreate):
    """A deployment to start now or, with `schedule`, later: planned and checked now, run at its time."""

    schedule: ScheduleIn | None = None
    override_maintenance_window: bool = Field(
        False,
        description="urgent: also dispatch to nodes whose groups' maintenance windows are closed (audited)",
    )


class ScheduleUpdate(Input):
    """What to change of an active schedule; fields left out stay as they are."""

    schedule: ScheduleIn | None = None
    strategy: StrategyModel | None = None

    @model_validator(mode="after")
    def _something(self) -> ScheduleUpdate:
        if self.schedule is None and self.strategy is None:
            raise ValueError("give a schedule, a strategy or both")
        return self


class SchedulePublic(BaseModel):
    id: str
    package_id: str
    software_name: str
    version: str
    action: Action | None
    target: TargetPublic | None
    strategy: StrategyPublic
    schedule: ScheduleOut
    state: ScheduleState | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_deployment_id: str
    # The deployment waiting in state "scheduled" for next_run_at.
    next_deployment_id: str
    override_maintenance_window: bool
    # Why the last run could not start, or why a tick was skipped; empty when it started.
    last_error: str
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None


class SchedulePage(BaseModel):
    items: list[SchedulePublic]
    next_page_token: str


class DeploymentCreatedScheduled(DeploymentCreated):
    """With a schedule, `deployment` waits in state "scheduled" and `schedule` is set; `resolved` and
    `incompatible` preview the nodes as they are now."""

    schedule: SchedulePublic | None = None


def schedule_in(schedule: ScheduleIn | None) -> sched_pb.Schedule | None:
    return schedule.to_proto() if schedule is not None else None


def _schedule_out(schedule: sched_pb.Schedule) -> ScheduleOut:
    if schedule.WhichOneof("when") == "at":
        return ScheduleOut(at=from_timestamp(schedule, "at"))
    return ScheduleOut(cron=schedule.cron.expression, timezone=schedule.cron.timezone)


def schedule_out(schedule: sched_pb.DeploymentSchedule) -> SchedulePublic:
    return SchedulePublic(
        id=schedule.id,
        package_id=schedule.package_id,
        software_name=schedule.software_name,
        version=schedule.version,
        action=ACTION.name(schedule.action),
        target=target_out(schedule.target),
        strategy=strategy_out(schedule.strategy),
        schedule=_schedule_out(schedule.schedule),
        state=SCHEDULE_STATE.name(schedule.state),
        next_run_at=from_timestamp(schedule, "next_run_at"),
        last_run_at=from_timestamp(schedule, "last_run_at"),
        last_deployment_id=schedule.last_deployment_id,
        next_deployment_id=schedule.next_deployment_id,
        override_maintenance_window=schedule.override_maintenance_window,
        last_error=schedule.last_error,
        created_by=schedule.created_by,
        created_at=from_timestamp(schedule, "created_at"),
        updated_at=from_timestamp(schedule, "updated_at"),
    )
