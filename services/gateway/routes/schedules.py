"""/api/v1/schedules: deployments that start later, as CreateDeployment with a schedule made them; listed,
changed and cancelled before they run (viewers read, operators and admins change)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from services.gateway.schemas_deployments import strategy_in
from services.gateway.schemas_schedules import (
    SCHEDULE_STATE_VALUES,
    SchedulePage,
    SchedulePublic,
    ScheduleState,
    ScheduleUpdate,
    schedule_in,
    schedule_out,
)
from services.gateway.security import Authed, UpstreamsDep, require_role
from services.kit.context import USER_ROLES, WRITE_ROLES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])

CanList = Annotated[Authed, Depends(require_role("schedule.list", *USER_ROLES))]
CanRead = Annotated[Authed, Depends(require_role("schedule.read", *USER_ROLES))]
CanUpdate = Annotated[Authed, Depends(require_role("schedule.update", *WRITE_ROLES))]
CanCancel = Annotated[Authed, Depends(require_role("schedule.cancel", *WRITE_ROLES))]
PageSize = Annotated[int, Query(ge=0, le=500)]


@router.get("", response_model=SchedulePage, summary="List schedules, the soonest next run first")
async def list_schedules(
    authed: CanList,
    upstreams: UpstreamsDep,
    page_size: PageSize = 50,
    page_token: Annotated[str, Query(max_length=4096)] = "",
    state: ScheduleState | None = None,
) -> SchedulePage:
    request = sched_pb.ListSchedulesRequest(
        page_size=page_size, page_token=page_token, state=SCHEDULE_STATE_VALUES[state] if state else 0
    )
    reply = await upstreams.scheduler.ListSchedules(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return SchedulePage(
        items=[schedule_out(s) for s in reply.schedules], next_page_token=reply.next_page_token
    )


@router.get("/{schedule_id}", response_model=SchedulePublic, summary="Get a schedule")
async def get_schedule(schedule_id: str, authed: CanRead, upstreams: UpstreamsDep) -> SchedulePublic:
    reply = await upstreams.scheduler.GetSchedule(
        sched_pb.GetScheduleRequest(id=schedule_id),
        metadata=authed.info.metadata(),
        timeout=upstreams.timeout,
    )
    return schedule_out(reply.schedule)


@router.patch(
    "/{schedule_id}",
    response_model=SchedulePublic,
    summary="Change when an active schedule runs and/or its strategy (its waiting deployment follows)",
)
async def update_schedule(
    schedule_id: str, body: ScheduleUpdate, authed: CanUpdate, upstreams: UpstreamsDep
) -> SchedulePublic:
    request = sched_pb.UpdateScheduleRequest(
        id=schedule_id, schedule=schedule_in(body.schedule), strategy=strategy_in(body.strategy)
    )
    reply = await upstreams.scheduler.UpdateSchedule(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return schedule_out(reply.schedule)


@router.post(
    "/{schedule_id}/cancel",
    response_model=SchedulePublic,
    summary="Stop future runs and cancel the deployment waiting for the next one (started runs go on)",
)
async def cancel_schedule(schedule_id: str, authed: CanCancel, upstreams: UpstreamsDep) -> SchedulePublic:
    reply = await upstreams.scheduler.CancelSchedule(
        sched_pb.CancelScheduleRequest(id=schedule_id),
        metadata=authed.info.metadata(),
        timeout=upstreams.timeout,
    )
    return schedule_out(reply.schedule)
