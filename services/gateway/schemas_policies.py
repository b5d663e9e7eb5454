"""JSON shapes of sync policies, their compliance and compliance events, and their conversion to and from
scheduler messages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from services.gateway.schemas import Input
from services.gateway.schemas_deployments import (
    StrategyModel,
    StrategyPublic,
    TargetPublic,
    strategy_in,
    strategy_out,
    target_out,
)
from services.gateway.schemas_enums import json_enum
from services.gateway.schemas_inventory import TargetIn
from services.kit.timestamps import from_timestamp

__all__ = [
    "PolicyState",
    "PolicyMode",
    "ComplianceState",
    "MODE_VALUES",
    "COMPLIANCE_STATE_VALUES",
    "LATEST",
    "PolicyCreate",
    "PolicyUpdate",
    "PolicyPublic",
    "PolicyPage",
    "ComplianceCountsPublic",
    "NodeCompliancePublic",
    "PolicyCompliancePage",
    "PolicyComplianceSummaryPublic",
    "GroupComplianceSummaryPublic",
    "ComplianceSummaryPublic",
    "ComplianceEventData",
    "create_request",
    "update_request",
    "policy_out",
    "compliance_out",
    "compliance_page_out",
    "summary_out",
    "compliance_event_data",
]

# The version that means "the newest package in the catalog that fits each node".
LATEST = "latest"

STATE = json_enum(sched_pb.DesiredState)
MODE = json_enum(sched_pb.PolicyMode)
COMPLIANCE_STATE = json_enum(sched_pb.ComplianceState)
PolicyState, PolicyMode, ComplianceState = STATE.type, MODE.type, COMPLIANCE_STATE.type
STATE_VALUES, MODE_VALUES, COMPLIANCE_STATE_VALUES = STATE.values, MODE.values, COMPLIANCE_STATE.values

_VERSION_DOC = '"latest", or an exact version such as "1.2-1"; required for present, left out for absent'


class PolicyCreate(Input):
    """Present at a version (or latest) or absent, on a target; enforced (drift corrected) or only reported.
    Left out: state present, mode enforce, enabled true."""

    name: str = Field(min_length=1, max_length=128)
    target: TargetIn
    software_name: str = Field(min_length=1, max_length=128)
    version: str | None = Field(None, min_length=1, max_length=128, description=_VERSION_DOC)
    state: PolicyState = "present"
    strategy: StrategyModel | None = Field(None, description="for the deployments the policy creates")
    mode: PolicyMode = "enforce"
    enabled: bool = True


class PolicyUpdate(Input):
    """Fields left out (or null) stay as they are; `strategy` replaces the whole strategy."""

    name: str | None = Field(None, min_length=1, max_length=128)
    target: TargetIn | None = None
    version: str | None = Field(None, min_length=1, max_length=128, description=_VERSION_DOC)
    state: PolicyState | None = None
    strategy: StrategyModel | None = None
    mode: PolicyMode | None = None
    enabled: bool | None = None


class PolicyPublic(BaseModel):
    id: str
    name: str
    target: TargetPublic | None
    software_name: str
    # "latest", an exact version, or null for absent.
    version: str | None
    state: PolicyState | None
    strategy: StrategyPublic
    mode: PolicyMode | None
    enabled: bool
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None


class PolicyPage(BaseModel):
    items: list[PolicyPublic]
    next_page_token: str
    total: int


class ComplianceCountsPublic(BaseModel):
    total: int
    compliant: int
    drifted: int
    converging: int
    failed: int
    incompatible: int


class NodeCompliancePublic(BaseModel):
    policy_id: str
    server_id: str
    hostname: str
    # Empty for absent.
    desired_version: str
    # Empty when not installed.
    installed_version: str
    state: ComplianceState | None
    # Converging: the deployment under way; failed: the one that failed.
    deployment_id: str
    message: str
    failed_attempts: int
    # While failed: when the next attempt may start.
    retry_at: datetime | None
    checked_at: datetime | None
    changed_at: datetime | None


class PolicyCompliancePage(BaseModel):
    """`counts` cover every node of the policy, whatever the state filter."""

    items: list[NodeCompliancePublic]
    next_page_token: str
    counts: ComplianceCountsPublic


class PolicyComplianceSummaryPublic(BaseModel):
    policy_id: str
    policy_name: str
    software_name: str
    mode: PolicyMode | None
    enabled: bool
    counts: ComplianceCountsPublic
    checked_at: datetime | None


class GroupComplianceSummaryPublic(BaseModel):
    group_id: str
    group_name: str
    counts: ComplianceCountsPublic


class ComplianceSummaryPublic(BaseModel):
    """Every policy; `total` and `groups` over enabled policies only (a node under two counts twice)."""

    policies: list[PolicyComplianceSummaryPublic]
    total: ComplianceCountsPublic
    groups: list[GroupComplianceSummaryPublic]


class ComplianceEventData(BaseModel):
    """A "compliance" event: a node's compliance with a policy changed state."""

    sequence: int
    time: datetime | None
    policy_id: str
    compliance: NodeCompliancePublic


def _set_version(request: sched_pb.CreatePolicyRequest | sched_pb.UpdatePolicyRequest, version: str) -> None:
    if version == LATEST:
        request.latest = True
    else:
        request.exact_version = version


def create_request(body: PolicyCreate) -> sched_pb.CreatePolicyRequest:
    request = sched_pb.CreatePolicyRequest(
        name=body.name,
        target=body.target.to_proto(),
        software_name=body.software_name,
        state=STATE_VALUES[body.state],
        strategy=strategy_in(body.strategy),
        mode=MODE_VALUES[body.mode],
        enabled=body.enabled,
    )
    if body.version is not None:
        _set_version(request, body.version)
    return request


def update_request(policy_id: str, body: PolicyUpdate) -> sched_pb.UpdatePolicyRequest:
    request = sched_pb.UpdatePolicyRequest(
        id=policy_id,
        name=body.name,
        target=body.target.to_proto() if body.target else None,
        state=STATE_VALUES[body.state] if body.state else None,
        strategy=strategy_in(body.strategy),
        mode=MODE_VALUES[body.mode] if body.mode else None,
        enabled=body.enabled,
    )
    if body.version is not None:
        _set_version(request, body.version)
    return request


def _counts_out(counts: sched_pb.ComplianceCounts) -> ComplianceCountsPublic:
    return ComplianceCountsPublic(
        **{name: getattr(counts, name) for name in ComplianceCountsPublic.model_fields}
    )


def policy_out(policy: sched_pb.SyncPolicy) -> PolicyPublic:
    which = policy.WhichOneof("desired_version")
    return PolicyPublic(
        id=policy.id,
        name=policy.name,
        target=target_out(policy.target),
        software_name=policy.software_name,
        version=policy.exact_version if which == "exact_version" else LATEST if which == "latest" else None,
        state=STATE.name(policy.state),
        strategy=strategy_out(policy.strategy),
        mode=MODE.name(policy.mode),
        enabled=policy.enabled,
        created_by=policy.created_by,
        created_at=from_timestamp(policy, "created_at"),
        updated_at=from_timestamp(policy, "updated_at"),
    )


def compliance_out(node: sched_pb.NodeCompliance) -> NodeCompliancePublic:
    return NodeCompliancePublic(
        policy_id=node.policy_id,
        server_id=node.server_id,
        hostname=node.hostname,
        desired_version=node.desired_version,
        installed_version=node.installed_version,
        state=COMPLIANCE_STATE.name(node.state),
        deployment_id=node.deployment_id,
        message=node.message,
        failed_attempts=node.failed_attempts,
        retry_at=from_timestamp(node, "retry_at"),
        checked_at=from_timestamp(node, "checked_at"),
        changed_at=from_timestamp(node, "changed_at"),
    )


def compliance_page_out(reply: sched_pb.GetPolicyComplianceResponse) -> PolicyCompliancePage:
    return PolicyCompliancePage(
        items=[compliance_out(node) for node in reply.nodes],
        next_page_token=reply.next_page_token,
        counts=_counts_out(reply.counts),
    )


def summary_out(reply: sched_pb.GetComplianceSummaryResponse) -> ComplianceSummaryPublic:
    policies = [
        PolicyComplianceSummaryPublic(
            policy_id=item.policy_id,
            policy_name=item.policy_name,
            software_name=item.software_name,
            mode=MODE.name(item.mode),
            enabled=item.enabled,
            counts=_counts_out(item.counts),
            checked_at=from_timestamp(item, "checked_at"),
        )
        for item in reply.policies
    ]
    groups = [
        GroupComplianceSummaryPublic(
            group_id=item.group_id, group_name=item.group_name, counts=_counts_out(item.counts)
        )
        for item in reply.groups
    ]
    return ComplianceSummaryPublic(policies=policies, total=_counts_out(reply.total), groups=groups)


def compliance_event_data(event: sched_pb.DeploymentEvent) -> str:
    """The SSE data line of a "compliance" event (one line of JSON)."""
    data = ComplianceEventData(
        sequence=event.sequence,
        time=from_timestamp(event, "time"),
        policy_id=event.compliance.policy_id,
        compliance=compliance_out(event.compliance),
    )
    return data.model_dump_json()
