"""/api/v1/events: the changes of deployments and their targets, and of nodes' compliance with sync
policies, as Server-Sent Events, as they happen (viewers may watch)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import grpc
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from services.gateway.errors import ApiError
from services.gateway.schemas_deployments import event_data, event_name
from services.gateway.schemas_policies import compliance_event_data
from services.gateway.security import Authed, UpstreamsDep, require_role
from services.gateway.sse import TOKEN_EXPIRED, frame, relay, started
from services.kit.context import USER_ROLES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["events"])

CanWatch = Annotated[Authed, Depends(require_role("deployment.watch", *USER_ROLES))]
# Sequences are int64; 18 digits stay below its limit.
_SEQUENCE = re.compile(r"[0-9]{1,18}")
_MAX_SEQUENCE = 10**18 - 1

_DOC = {
    "description": (
        "`text/event-stream`. Each event: `id: <sequence>`, `event: deployment|target|compliance`, "
        "`data: <JSON>` (`sequence`, `time`, `deployment_id`, and `deployment` or `target` as the REST routes "
        "show them; a `compliance` event, only on the stream of every deployment, has `policy_id` and "
        "`compliance`, a node's compliance with a sync policy as /api/v1/policies/{id}/compliance shows it). "
        "A comment line comes every heartbeat interval. Reconnecting with `Last-Event-ID` (browsers do "
        "it themselves) or `since` replays the events after that one first; one beyond the last event "
        "(the event log was reset) is a 400. An `error` event ends the stream when the source fails, "
        "and when the access token that opened it expires (`code` `unauthenticated`): reconnect with a "
        "fresh token and Last-Event-ID. Each user may hold a limited number of streams at once (429)."
    ),
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


def _resume_after(since: int, last_event_id: str | None) -> int:
    """Last-Event-ID wins over `since`: a browser reconnecting sends the original URL again, and the
    header says how far it has got since."""
    if last_event_id is None or not last_event_id.strip():
        return since
    value = last_event_id.strip()
    if not _SEQUENCE.fullmatch(value):
        raise ApiError(400, "invalid_argument", "Last-Event-ID must be the sequence number of an event")
    return int(value)


def _render(event: sched_pb.DeploymentEvent) -> str:
    if event.WhichOneof("change") == "compliance":
        return frame("compliance", compliance_event_data(event), str(event.sequence))
    return frame(event_name(event), event_data(event), str(event.sequence))


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: _DOC},
    summary="Stream the changes of one deployment (or of all) as Server-Sent Events",
)
async def watch_events(
    authed: CanWatch,
    upstreams: UpstreamsDep,
    request: Request,
    deployment_id: Annotated[str, Query(max_length=64, description="empty: every deployment")] = "",
    since: Annotated[
        int, Query(ge=0, le=_MAX_SEQUENCE, description="replay the kept events after this one; 0: only new")
    ] = 0,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    after = _resume_after(since, last_event_id)
    settings = upstreams.settings
    # The stream lasts as long as the token that opened it: the call's deadline is the token's expiry.
    lifetime = (authed.principal.expires_at - datetime.now(UTC)).total_seconds()
    if lifetime <= 0:
        raise ApiError(401, "unauthenticated", TOKEN_EXPIRED["message"], {"WWW-Authenticate": "Bearer"})
    slot = request.app.state.event_streams.take(authed.principal.subject)
    call: grpc.aio.UnaryStreamCall | None = None
    try:
        metadata = authed.info.metadata()
        if deployment_id:
            # An unknown or malformed id is an HTTP error now, not an error event after a 200.
            await upstreams.scheduler.GetDeployment(
                sched_pb.GetDeploymentRequest(id=deployment_id), metadata=metadata, timeout=upstreams.timeout
            )
        watch = sched_pb.WatchDeploymentRequest(deployment_id=deployment_id, since_sequence=after)
        call = upstreams.scheduler.WatchDeployment(watch, metadata=metadata, timeout=lifetime)
        try:
            # A refused watch (a Last-Event-ID beyond the last event …) is an HTTP error too.
            await started(call, settings.events_start_seconds)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ApiError(
                    401, "unauthenticated", TOKEN_EXPIRED["message"], {"WWW-Authenticate": "Bearer"}
                ) from exc
            raise
    except BaseException:
        if call is not None:
            call.cancel()
        slot.release()
        raise

    async def cleanup() -> None:
        # For a response whose stream never started (the client gone before the first byte): the
        # generator's own cleanup does not run then. A coroutine, so that it runs on the event loop: a
        # plain function would run on a worker thread, and a gRPC call belongs to its loop.
        call.cancel()
        slot.release()

    return StreamingResponse(
        relay(call, _render, settings.events_heartbeat_seconds, slot),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(cleanup),
    )
