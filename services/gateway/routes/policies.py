"""/api/v1/policies and /api/v1/compliance: sync policies that keep nodes on a declared version, and how
far the fleet complies (viewers read, operators and admins change policies)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from services.gateway.schemas_policies import (
    COMPLIANCE_STATE_VALUES,
    MODE_VALUES,
    ComplianceState,
    ComplianceSummaryPublic,
    PolicyCompliancePage,
    PolicyCreate,
    PolicyMode,
    PolicyPage,
    PolicyPublic,
    PolicyUpdate,
    compliance_page_out,
    create_request,
    policy_out,
    summary_out,
    update_request,
)
from services.gateway.security import Authed, UpstreamsDep, require_role
from services.kit.context import USER_ROLES, WRITE_ROLES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["policies"])

CanList = Annotated[Authed, Depends(require_role("policy.list", *USER_ROLES))]
CanRead = Annotated[Authed, Depends(require_role("policy.read", *USER_ROLES))]
CanCreate = Annotated[Authed, Depends(require_role("policy.create", *WRITE_ROLES))]
CanUpdate = Annotated[Authed, Depends(require_role("policy.update", *WRITE_ROLES))]
CanDelete = Annotated[Authed, Depends(require_role("policy.delete", *WRITE_ROLES))]
CanSummarise = Annotated[Authed, Depends(require_role("compliance.read", *USER_ROLES))]
PageSize = Annotated[int, Query(ge=0, le=500)]


@router.post(
    "/policies",
    response_model=PolicyPublic,
    status_code=201,
    summary="Create a sync policy (409 when an enabled policy wants something else on a shared node)",
)
async def create_policy(body: PolicyCreate, authed: CanCreate, upstreams: UpstreamsDep) -> PolicyPublic:
    reply = await upstreams.scheduler.CreatePolicy(
        create_request(body), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return policy_out(reply.policy)


@router.get("/policies", response_model=PolicyPage, summary="List sync policies by name")
async def list_policies(
    authed: CanList,
    upstreams: UpstreamsDep,
    page_size: PageSize = 50,
    page_token: str = "",
    software_name: Annotated[str, Query(max_length=128, description="exact software name")] = "",
    mode: PolicyMode | None = None,
    enabled: bool | None = None,
) -> PolicyPage:
    request = sched_pb.ListPoliciesRequest(
        page_size=page_size,
        page_token=page_token,
        software_name=software_name,
        mode=MODE_VALUES[mode] if mode else 0,
        enabled=enabled,
    )
    reply = await upstreams.scheduler.ListPolicies(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return PolicyPage(
        items=[policy_out(p) for p in reply.policies],
        next_page_token=reply.next_page_token,
        total=reply.total_size,
    )


@router.get("/policies/{policy_id}", response_model=PolicyPublic, summary="Get a sync policy")
async def get_policy(policy_id: str, authed: CanRead, upstreams: UpstreamsDep) -> PolicyPublic:
    reply = await upstreams.scheduler.GetPolicy(
        sched_pb.GetPolicyRequest(id=policy_id), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return policy_out(reply.policy)


@router.patch(
    "/policies/{policy_id}",
    response_model=PolicyPublic,
    summary="Change a sync policy (checked for contradictions like a new one)",
)
async def update_policy(
    policy_id: str, body: PolicyUpdate, authed: CanUpdate, upstreams: UpstreamsDep
) -> PolicyPublic:
    reply = await upstreams.scheduler.UpdatePolicy(
        update_request(policy_id, body), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return policy_out(reply.policy)


@router.delete(
    "/policies/{policy_id}",
    status_code=204,
    summary="Delete a sync policy (deployments it started run on)",
)
async def delete_policy(policy_id: str, authed: CanDelete, upstreams: UpstreamsDep) -> Response:
    await upstreams.scheduler.DeletePolicy(
        sched_pb.DeletePolicyRequest(id=policy_id), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return Response(status_code=204)


@router.get(
    "/policies/{policy_id}/compliance",
    response_model=PolicyCompliancePage,
    summary="Each node under the policy (by hostname): desired and installed version, state",
)
async def policy_compliance(
    policy_id: str,
    authed: CanRead,
    upstreams: UpstreamsDep,
    page_size: PageSize = 50,
    page_token: str = "",
    state: ComplianceState | None = None,
) -> PolicyCompliancePage:
    request = sched_pb.GetPolicyComplianceRequest(
        policy_id=policy_id,
        page_size=page_size,
        page_token=page_token,
        state=COMPLIANCE_STATE_VALUES[state] if state else 0,
    )
    reply = await upstreams.scheduler.GetPolicyCompliance(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return compliance_page_out(reply)


@router.get(
    "/compliance",
    response_model=ComplianceSummaryPublic,
    summary="Fleet compliance: counts per policy, in total and per group",
)
async def compliance_summary(authed: CanSummarise, upstreams: UpstreamsDep) -> ComplianceSummaryPublic:
    reply = await upstreams.scheduler.GetComplianceSummary(
        sched_pb.GetComplianceSummaryRequest(), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return summary_out(reply)
