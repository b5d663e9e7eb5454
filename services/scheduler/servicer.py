"""gRPC servicer of SchedulerService: proto messages in, use cases called, proto messages out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import grpc

from convoy.scheduler.v1 import scheduler_pb2 as pb
from convoy.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from services.kit.timestamps import from_timestamp, to_timestamp
from services.scheduler.control import ControlUseCases, DeploymentView
from services.scheduler.messages import (
    ACTION_TO_PROTO,
    DEPLOYMENT_STATE_TO_PROTO,
    TARGET_STATE_TO_PROTO,
    deployment_to_proto,
    enum_name,
    preview_to_proto,
    strategy_from_proto,
    target_to_proto,
)
from services.scheduler.policy_rpcs import PolicyRpcs, PolicyUseCases
from services.scheduler.queries import DeploymentFilter, QueryUseCases, TargetFilter
from services.scheduler.schedule_rpcs import ScheduleRpcs, ScheduleUseCases
from services.scheduler.service import CreateUseCase, DeploymentRequest
from services.scheduler.watch import WatchUseCase

__all__ = ["SchedulerServicer", "Revoker"]


class Revoker(Protocol):
    """What RevokeServer needs of the agent edge."""

    async def revoke(self, server_id: str, reason: str) -> None: ...


def _view(view: DeploymentView) -> pb.Deployment:
    return deployment_to_proto(view.deployment, view.counts)


class SchedulerServicer(PolicyRpcs, ScheduleRpcs, pb_grpc.SchedulerServiceServicer):
    """Deployments here; sync policies and compliance in PolicyRpcs, schedules in ScheduleRpcs."""

    def __init__(
        self,
        create: CreateUseCase,
        queries: QueryUseCases,
        control: ControlUseCases,
        watch: WatchUseCase,
        revoker: Revoker,
        *,
        policies: PolicyUseCases | None = None,
        schedules: ScheduleUseCases | None = None,
    ) -> None:
        self._create, self._queries, self._control, self._watch = create, queries, control, watch
        self.revoker = revoker
        self.policies, self.schedules = policies, schedules

    async def CreateDeployment(
        self, request: pb.CreateDeploymentRequest, context: object
    ) -> pb.CreateDeploymentResponse:
        draft = DeploymentRequest(
            package_id=request.package_id,
            action=enum_name(ACTION_TO_PROTO, request.action),
            target=request.target if request.HasField("target") else None,
            strategy=strategy_from_proto(request.strategy),
            dry_run=request.dry_run,
            rollback_deployment_id=request.rollback_deployment_id,
            override_window=request.override_maintenance_window,
        )
        if request.HasField("schedule") and request.schedule.WhichOneof("when") is not None:
            return await self.create_scheduled(draft, request.schedule)
        deployment, plan = await self._create.create(draft)
        resolved, incompatible = preview_to_proto(plan)
        counts: dict[str, int] = {}
        for target in plan.targets:
            state = "skipped" if target.skip_reason else "pending"
            counts[state] = counts.get(state, 0) + 1
        return pb.CreateDeploymentResponse(
            deployment=deployment_to_proto(deployment, counts) if deployment is not None else None,
            resolved=resolved,
            incompatible=incompatible,
        )

    async def GetDeployment(
        self, request: pb.GetDeploymentRequest, context: object
    ) -> pb.GetDeploymentResponse:
        return pb.GetDeploymentResponse(deployment=_view(await self._queries.get(request.id)))

    async def ListDeployments(
        self, request: pb.ListDeploymentsRequest, context: object
    ) -> pb.ListDeploymentsResponse:
        where = DeploymentFilter(
            state=enum_name(DEPLOYMENT_STATE_TO_PROTO, request.state),
            package_id=request.package_id,
            software_name=request.software_name,
            policy_id=request.policy_id,
            server_id=request.server_id,
            created_by=request.created_by,
            since=from_timestamp(request, "since"),
            until=from_timestamp(request, "until"),
        )
        page = await self._queries.list(where, size=request.page_size, token=request.page_token)
        return pb.ListDeploymentsResponse(
            deployments=[_view(view) for view in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def ListDeploymentTargets(
        self, request: pb.ListDeploymentTargetsRequest, context: object
    ) -> pb.ListDeploymentTargetsResponse:
        where = TargetFilter(
            state=enum_name(TARGET_STATE_TO_PROTO, request.state),
            attempt=request.attempt,
            batch=request.batch,
            query=request.query,
            server_id=request.server_id,
        )
        page = await self._queries.targets(
            request.deployment_id, where, size=request.page_size, token=request.page_token
        )
        return pb.ListDeploymentTargetsResponse(
            targets=[target_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def PauseDeployment(
        self, request: pb.PauseDeploymentRequest, context: object
    ) -> pb.PauseDeploymentResponse:
        return pb.PauseDeploymentResponse(
            deployment=_view(await self._control.pause(request.id, request.reason))
        )

    async def ResumeDeployment(
        self, request: pb.ResumeDeploymentRequest, context: object
    ) -> pb.ResumeDeploymentResponse:
        return pb.ResumeDeploymentResponse(deployment=_view(await self._control.resume(request.id)))

    async def CancelDeployment(
        self, request: pb.CancelDeploymentRequest, context: object
    ) -> pb.CancelDeploymentResponse:
        return pb.CancelDeploymentResponse(
            deployment=_view(await self._control.cancel(request.id, request.reason))
        )

    async def RetryFailed(self, request: pb.RetryFailedRequest, context: object) -> pb.RetryFailedResponse:
        view, retried = await self._control.retry(request.id, list(request.server_ids))
        return pb.RetryFailedResponse(deployment=_view(view), retried=retried)

    async def ApproveDeployment(
        self, request: pb.ApproveDeploymentRequest, context: object
    ) -> pb.ApproveDeploymentResponse:
        view, approved = await self._control.approve(request.id, list(request.server_ids))
        return pb.ApproveDeploymentResponse(deployment=_view(view), approved=approved)

    async def WatchDeployment(
        self, request: pb.WatchDeploymentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.DeploymentEvent]:
        events = await self._watch.open(request.deployment_id, request.since_sequence)
        # Headers at once: the caller (the gateway's event stream) learns that the watch was accepted
        # before any event exists, instead of waiting for the first one.
        await context.send_initial_metadata(())
        async for event in events:
            yield event

    async def GetTargetLog(self, request: pb.GetTargetLogRequest, context: object) -> pb.GetTargetLogResponse:
        view = await self._queries.log(request.deployment_id, request.server_id, request.attempt)
        return pb.GetTargetLogResponse(
            lines=[pb.LogLine(time=to_timestamp(line.time), text=line.text) for line in view.lines],
            dropped_lines=view.dropped,
        )

    async def RevokeServer(self, request: pb.RevokeServerRequest, context: object) -> pb.RevokeServerResponse:
        await self.revoker.revoke(request.server_id, request.reason)
        return pb.RevokeServerResponse()
