"""/api/v1/audit: the audit log and its chain check (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from convoy.auth.v1 import auth_pb2 as auth_pb
from services.gateway.schemas import RESULT_VALUES, AuditChainOut, AuditPage, AuditResult, audit_out
from services.gateway.security import Authed, UpstreamsDep, require_role
from services.kit.context import ADMIN
from services.kit.timestamps import to_timestamp

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

CanRead = Annotated[Authed, Depends(require_role("audit.list", ADMIN))]
CanVerify = Annotated[Authed, Depends(require_role("audit.verify", ADMIN))]


@router.get("", response_model=AuditPage, summary="Audit records, newest first")
async def list_audit(
    authed: CanRead,
    upstreams: UpstreamsDep,
    page_size: Annotated[int, Query(ge=0, le=500)] = 50,
    page_token: str = "",
    actor: str = "",
    action: Annotated[str, Query(description="exact action, or a prefix ending in '.'")] = "",
    target: str = "",
    result: AuditResult | None = None,
    request_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditPage:
    request = auth_pb.ListAuditRequest(
        page_size=page_size,
        page_token=page_token,
        actor=actor,
        action=action,
        target=target,
        result=RESULT_VALUES[result] if result else 0,
        request_id=request_id,
        since=to_timestamp(since, "since"),
        until=to_timestamp(until, "until"),
    )
    reply = await upstreams.audit.ListAudit(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return AuditPage(items=[audit_out(r) for r in reply.records], next_page_token=reply.next_page_token)


@router.get("/verify", response_model=AuditChainOut, summary="Recompute the hash chain of the whole log")
async def verify_audit(authed: CanVerify, upstreams: UpstreamsDep) -> AuditChainOut:
    reply = await upstreams.audit.VerifyAuditChain(
        auth_pb.VerifyAuditChainRequest(), metadata=authed.info.metadata(), timeout=upstreams.timeout * 6
    )
    return AuditChainOut(
        ok=reply.ok,
        records_checked=reply.records_checked,
        first_bad_id=reply.first_bad_id,
        reason=reply.reason,
    )
