"""SchedulerService's schedule RPCs, and CreateDeployment with a schedule: proto in, ScheduleUseCases
called, proto out."""

from __future__ import annotations

from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.timestamps import from_timestamp, to_timestamp
from services.scheduler.messages import (
    ACTION_TO_PROTO,
    STRATEGY_FIELDS,
    deployment_to_proto,
    enum_name,
    preview_to_proto,
    strategy_from_proto,
    target_spec_to_proto,
)
from services.scheduler.models import AT, CRON, SCHEDULE_STATES, Schedule
from services.scheduler.schedule_times import When
from services.scheduler.schedules import ScheduleUseCases
from services.scheduler.service import DeploymentRequest

__all__ = ["ScheduleRpcs", "ScheduleUseCases", "schedule_to_proto", "SCHEDULE_STATE_TO_PROTO"]

SCHEDULE_STATE_TO_PROTO = {name: number for number, name in enumerate(SCHEDULE_STATES, start=1)}


def _when(message: pb.Schedule) -> When:
    if message.WhichOneof("when") == "at":
        return When(AT, at=from_timestamp(message, "at"))
    return When(CRON, cron=message.cron.expression, timezone=message.cron.timezone)


def _schedule_message(row: Schedule) -> pb.Schedule:
    if row.kind == AT:
        return pb.Schedule(at=to_timestamp(row.run_at))
    return pb.Schedule(cron=pb.CronSchedule(expression=row.cron, timezone=row.timezone))


def schedule_to_proto(row: Schedule) -> pb.DeploymentSchedule:
    strategy = {name: row.strategy[name] for name in STRATEGY_FIELDS if name in row.strategy}
    return pb.DeploymentSchedule(
        id=str(row.id),
        package_id=str(row.package_id),
        software_name=row.software_name,
        version=row.version,
        action=ACTION_TO_PROTO[row.action],  # type: ignore[arg-type]
        target=target_spec_to_proto(row.target_kind, row.target_value),
        strategy=pb.Strategy(**strategy),
        schedule=_schedule_message(row),
        state=SCHEDULE_STATE_TO_PROTO[row.state],  # type: ignore[arg-type]
        next_run_at=to_timestamp(row.next_run_at),
        last_run_at=to_timestamp(row.last_run_at),
        last_deployment_id=str(row.last_deployment_id or ""),
        next_deployment_id=str(row.next_deployment_id or ""),
        created_by=row.created_by,
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
        override_maintenance_window=row.override_window,
        last_error=row.last_error,
    )


class ScheduleRpcs:
    """Mixed into SchedulerServicer, which sets `self.schedules`."""

    schedules: ScheduleUseCases

    async def create_scheduled(
        self, draft: DeploymentRequest, schedule: pb.Schedule
    ) -> pb.CreateDeploymentResponse:
        made = await self.schedules.schedule(draft, _when(schedule))
        resolved, incompatible = preview_to_proto(made.plan)
        return pb.CreateDeploymentResponse(
            deployment=deployment_to_proto(made.deployment, {}),
            resolved=resolved,
            incompatible=incompatible,
            schedule=schedule_to_proto(made.schedule),
        )

    async def ListSchedules(
        self, request: pb.ListSchedulesRequest, context: object
    ) -> pb.ListSchedulesResponse:
        page = await self.schedules.list(
            enum_name(SCHEDULE_STATE_TO_PROTO, request.state),
            size=request.page_size,
            token=request.page_token,
        )
        return pb.ListSchedulesResponse(
            schedules=[schedule_to_proto(row) for row in page.items], next_page_token=page.next_page_token
        )

    async def GetSchedule(self, request: pb.GetScheduleRequest, context: object) -> pb.GetScheduleResponse:
        return pb.GetScheduleResponse(schedule=schedule_to_proto(await self.schedules.get(request.id)))

    async def UpdateSchedule(
        self, request: pb.UpdateScheduleRequest, context: object
    ) -> pb.UpdateScheduleResponse:
        when = _when(request.schedule) if request.schedule.WhichOneof("when") is not None else None
        strategy = strategy_from_proto(request.strategy) if request.HasField("strategy") else None
        row = await self.schedules.update(request.id, when, strategy)
        return pb.UpdateScheduleResponse(schedule=schedule_to_proto(row))

    async def CancelSchedule(
        self, request: pb.CancelScheduleRequest, context: object
    ) -> pb.CancelScheduleResponse:
        return pb.CancelScheduleResponse(schedule=schedule_to_proto(await self.schedules.cancel(request.id)))
