"""/api/v1/deployments: roll a package out to servers, follow it target by target, and steer it (viewers
read, operators and admins create and steer)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from services.gateway.schemas_deployments import (
    ACTION_VALUES,
    DEPLOYMENT_STATE_VALUES,
    TARGET_STATE_VALUES,
    Approved,
    DeploymentPage,
    DeploymentPublic,
    DeploymentState,
    DeploymentTargetPage,
    ReasonIn,
    Retried,
    ServersIn,
    TargetLog,
    TargetState,
    deployment_out,
    deployment_target_out,
    incompatible_out,
    log_line_out,
    resolved_out,
    strategy_in,
)
from services.gateway.schemas_schedules import (
    DeploymentCreatedScheduled,
    DeploymentCreateScheduled,
    schedule_in,
    schedule_out,
)
from services.gateway.security import Authed, UpstreamsDep, require_role
from services.kit.context import USER_ROLES, WRITE_ROLES
from services.kit.timestamps import to_timestamp

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/deployments", tags=["deployments"])

CanList = Annotated[Authed, Depends(require_role("deployment.list", *USER_ROLES))]
CanRead = Annotated[Authed, Depends(require_role("deployment.read", *USER_ROLES))]
CanCreate = Annotated[Authed, Depends(require_role("deployment.create", *WRITE_ROLES))]
CanPause = Annotated[Authed, Depends(require_role("deployment.pause", *WRITE_ROLES))]
CanResume = Annotated[Authed, Depends(require_role("deployment.resume", *WRITE_ROLES))]
CanCancel = Annotated[Authed, Depends(require_role("deployment.cancel", *WRITE_ROLES))]
CanRetry = Annotated[Authed, Depends(require_role("deployment.retry", *WRITE_ROLES))]
CanApprove = Annotated[Authed, Depends(require_role("deployment.approve", *WRITE_ROLES))]
PageSize = Annotated[int, Query(ge=0, le=500)]
IdFilter = Annotated[str, Query(max_length=64)]


@router.post(
    "",
    response_model=DeploymentCreatedScheduled,
    status_code=201,
    summary="Create a deployment now or, with a schedule, for later (or, with dry_run, preview its nodes)",
    responses={200: {"model": DeploymentCreatedScheduled, "description": "a dry run: nothing was written"}},
)
async def create_deployment(
    body: DeploymentCreateScheduled, authed: CanCreate, upstreams: UpstreamsDep, response: Response
) -> DeploymentCreatedScheduled:
    request = sched_pb.CreateDeploymentRequest(
        package_id=body.package_id,
        action=ACTION_VALUES[body.action],
        target=body.target.to_proto() if body.target else None,
        strategy=strategy_in(body.strategy),
        schedule=schedule_in(body.schedule),
        dry_run=body.dry_run,
        rollback_deployment_id=body.rollback_deployment_id,
        override_maintenance_window=body.override_maintenance_window,
    )
    reply = await upstreams.scheduler.CreateDeployment(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    created = DeploymentCreatedScheduled(
        deployment=deployment_out(reply.deployment) if reply.HasField("deployment") else None,
        resolved=[resolved_out(s) for s in reply.resolved],
        incompatible=[incompatible_out(s) for s in reply.incompatible],
        schedule=schedule_out(reply.schedule) if reply.HasField("schedule") else None,
    )
    if body.dry_run:
        # Nothing was created: a plain 200 says so.
        response.status_code = 200
    return created


@router.get("", response_model=DeploymentPage, summary="List deployments, newest first")
async def list_deployments(
    authed: CanList,
    upstreams: UpstreamsDep,
    page_size: PageSize = 50,
    page_token: str = "",
    state: DeploymentState | None = None,
    package_id: IdFilter = "",
    software_name: Annotated[str, Query(max_length=128, description="exact software name")] = "",
    policy_id: IdFilter = "",
    server_id: Annotated[str, Query(max_length=64, description="deployments that include this server")] = "",
    created_by: Annotated[str, Query(max_length=128)] = "",
    since: Annotated[datetime | None, Query(description="created at or after (ISO-8601)")] = None,
    until: Annotated[datetime | None, Query(description="created before (ISO-8601)")] = None,
) -> DeploymentPage:
    request = sched_pb.ListDeploymentsRequest(
        page_size=page_size,
        page_token=page_token,
        state=DEPLOYMENT_STATE_VALUES[state] if state else 0,
        package_id=package_id,
        software_name=software_name,
        policy_id=policy_id,
        server_id=server_id,
        created_by=created_by,
        since=to_timestamp(since, "since"),
        until=to_timestamp(until, "until"),
    )
    reply = await upstreams.scheduler.ListDeployments(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return DeploymentPage(
        items=[deployment_out(d) for d in reply.deployments],
        next_page_token=reply.next_page_token,
        total=reply.total_size,
    )


@router.get(
    "/{deployment_id}", response_model=DeploymentPublic, summary="Get a deployment with its counts per state"
)
async def get_deployment(deployment_id: str, authed: CanRead, upstreams: UpstreamsDep) -> DeploymentPublic:
    reply = await upstreams.scheduler.GetDeployment(
        sched_pb.GetDeploymentRequest(id=deployment_id),
        metadata=authed.info.metadata(),
        timeout=upstreams.timeout,
    )
    return deployment_out(reply.deployment)


@router.get(
    "/{deployment_id}/targets",
    response_model=DeploymentTargetPage,
    summary="The deployment's servers, each with its current (or a given) attempt",
)
async def list_targets(
    deployment_id: str,
    authed: CanRead,
    upstreams: UpstreamsDep,
    page_size: PageSize = 50,
    page_token: str = "",
    state: TargetState | None = None,
    attempt: Annotated[int, Query(ge=0, le=1_000_000, description="0: the current attempt")] = 0,
    batch: Annotated[int, Query(ge=0, le=1_000_000, description="0: every batch")] = 0,
    q: Annotated[str, Query(max_length=253, description="substring of hostname")] = "",
    server_id: Annotated[str, Query(max_length=64, description="only this server's row")] = "",
) -> DeploymentTargetPage:
    request = sched_pb.ListDeploymentTargetsRequest(
        deployment_id=deployment_id,
        page_size=page_size,
        page_token=page_token,
        state=TARGET_STATE_VALUES[state] if state else 0,
        attempt=attempt,
        batch=batch,
        query=q,
        server_id=server_id,
    )
    reply = await upstreams.scheduler.ListDeploymentTargets(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return DeploymentTargetPage(
        items=[deployment_target_out(t) for t in reply.targets],
        next_page_token=reply.next_page_token,
        total=reply.total_size,
    )


@router.get(
    "/{deployment_id}/targets/{server_id}/log",
    response_model=TargetLog,
    summary="What a node reported while working on the deployment (head and tail kept)",
)
async def target_log(
    deployment_id: str,
    server_id: str,
    authed: CanRead,
    upstreams: UpstreamsDep,
    attempt: Annotated[int, Query(ge=0, le=1_000_000, description="0: the current attempt")] = 0,
) -> TargetLog:
    request = sched_pb.GetTargetLogRequest(deployment_id=deployment_id, server_id=server_id, attempt=attempt)
    reply = await upstreams.scheduler.GetTargetLog(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return TargetLog(lines=[log_line_out(line) for line in reply.lines], dropped_lines=reply.dropped_lines)


@router.post("/{deployment_id}/pause", response_model=DeploymentPublic, summary="Stop starting new batches")
async def pause_deployment(
    deployment_id: str, authed: CanPause, upstreams: UpstreamsDep, body: ReasonIn | None = None
) -> DeploymentPublic:
    request = sched_pb.PauseDeploymentRequest(id=deployment_id, reason=body.reason if body else "")
    reply = await upstreams.scheduler.PauseDeployment(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return deployment_out(reply.deployment)


@router.post("/{deployment_id}/resume", response_model=DeploymentPublic, summary="Go on after a pause")
async def resume_deployment(
    deployment_id: str, authed: CanResume, upstreams: UpstreamsDep
) -> DeploymentPublic:
    reply = await upstreams.scheduler.ResumeDeployment(
        sched_pb.ResumeDeploymentRequest(id=deployment_id),
        metadata=authed.info.metadata(),
        timeout=upstreams.timeout,
    )
    return deployment_out(reply.deployment)


@router.post(
    "/{deployment_id}/cancel",
    response_model=DeploymentPublic,
    summary="Cancel pending targets; nodes already working are told to stop",
)
async def cancel_deployment(
    deployment_id: str, authed: CanCancel, upstreams: UpstreamsDep, body: ReasonIn | None = None
) -> DeploymentPublic:
    request = sched_pb.CancelDeploymentRequest(id=deployment_id, reason=body.reason if body else "")
    reply = await upstreams.scheduler.CancelDeployment(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return deployment_out(reply.deployment)


@router.post(
    "/{deployment_id}/retry",
    response_model=Retried,
    summary="A new attempt for failed targets (all, or the server_ids given)",
)
async def retry_deployment(
    deployment_id: str, authed: CanRetry, upstreams: UpstreamsDep, body: ServersIn | None = None
) -> Retried:
    request = sched_pb.RetryFailedRequest(id=deployment_id, server_ids=body.server_ids if body else [])
    reply = await upstreams.scheduler.RetryFailed(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return Retried(deployment=deployment_out(reply.deployment), retried=reply.retried)


@router.post(
    "/{deployment_id}/approve",
    response_model=Approved,
    summary="Let targets awaiting approval go on (all, or the server_ids given)",
)
async def approve_deployment(
    deployment_id: str, authed: CanApprove, upstreams: UpstreamsDep, body: ServersIn | None = None
) -> Approved:
    request = sched_pb.ApproveDeploymentRequest(id=deployment_id, server_ids=body.server_ids if body else [])
    reply = await upstreams.scheduler.ApproveDeployment(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return Approved(deployment=deployment_out(reply.deployment), approved=reply.approved)
