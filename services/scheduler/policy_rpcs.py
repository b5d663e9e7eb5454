"""SchedulerService's sync-policy and compliance RPCs: proto in, PolicyUseCases called, proto out; and the
conversions of policy and compliance rows to messages (responses, and the reconciler's events)."""

from __future__ import annotations

from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.errors import FailedPrecondition
from services.kit.timestamps import to_timestamp
from services.scheduler.messages import (
    COMPLIANCE_STATE_TO_PROTO,
    STRATEGY_FIELDS,
    compliance_to_proto,
    counts_to_proto,
    enum_name,
    strategy_from_proto,
    target_spec_to_proto,
)
from services.scheduler.models import (
    ABSENT,
    ENFORCE,
    EXACT,
    PRESENT,
    REPORT,
    Policy,
)
from services.scheduler.policies import PolicyDraft, PolicyFilter, PolicyUseCases
from services.scheduler.policy_rules import PolicyChanges, Version

__all__ = [
    "PolicyRpcs",
    "PolicyUseCases",
    "DESIRED_STATE_TO_PROTO",
    "MODE_TO_PROTO",
    "COMPLIANCE_STATE_TO_PROTO",
    "policy_to_proto",
    "compliance_to_proto",
]

DESIRED_STATE_TO_PROTO = {PRESENT: pb.DESIRED_STATE_PRESENT, ABSENT: pb.DESIRED_STATE_ABSENT}
MODE_TO_PROTO = {ENFORCE: pb.POLICY_MODE_ENFORCE, REPORT: pb.POLICY_MODE_REPORT}


def _version(request: pb.CreatePolicyRequest | pb.UpdatePolicyRequest) -> Version | None:
    """The desired_version oneof: None when unset; `latest: false` is a Version no use case accepts."""
    which = request.WhichOneof("desired_version")
    if which is None:
        return None
    if which == "exact_version":
        return Version(EXACT, request.exact_version)
    return Version("latest" if request.latest else "", "")


def policy_to_proto(row: Policy) -> pb.SyncPolicy:
    strategy = {name: row.strategy[name] for name in STRATEGY_FIELDS if name in row.strategy}
    message = pb.SyncPolicy(
        id=str(row.id),
        name=row.name,
        target=target_spec_to_proto(row.target_kind, row.target_value),
        software_name=row.software_name,
        state=DESIRED_STATE_TO_PROTO[row.desired_state],  # type: ignore[arg-type]
        strategy=pb.Strategy(**strategy),
        mode=MODE_TO_PROTO[row.mode],  # type: ignore[arg-type]
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
    )
    # An ABSENT policy has no version to show.
    if row.desired_state == PRESENT and row.version_mode == EXACT:
        message.exact_version = row.exact_version
    elif row.desired_state == PRESENT:
        message.latest = True
    return message


class PolicyRpcs:
    """Mixed into SchedulerServicer, which sets `self.policies`."""

    policies: PolicyUseCases | None

    def _policies(self) -> PolicyUseCases:
        if self.policies is None:
            raise FailedPrecondition("this scheduler serves no sync policies")
        return self.policies

    async def CreatePolicy(self, request: pb.CreatePolicyRequest, context: object) -> pb.CreatePolicyResponse:
        draft = PolicyDraft(
            name=request.name,
            target=request.target if request.HasField("target") else None,
            software_name=request.software_name,
            version=_version(request),
            state=enum_name(DESIRED_STATE_TO_PROTO, request.state),
            strategy=strategy_from_proto(request.strategy),
            mode=enum_name(MODE_TO_PROTO, request.mode),
            enabled=request.enabled,
        )
        return pb.CreatePolicyResponse(policy=policy_to_proto(await self._policies().create(draft)))

    async def GetPolicy(self, request: pb.GetPolicyRequest, context: object) -> pb.GetPolicyResponse:
        return pb.GetPolicyResponse(policy=policy_to_proto(await self._policies().get(request.id)))

    async def ListPolicies(self, request: pb.ListPoliciesRequest, context: object) -> pb.ListPoliciesResponse:
        where = PolicyFilter(
            software_name=request.software_name,
            mode=enum_name(MODE_TO_PROTO, request.mode),
            enabled=request.enabled if request.HasField("enabled") else None,
        )
        page = await self._policies().list(where, size=request.page_size, token=request.page_token)
        return pb.ListPoliciesResponse(
            policies=[policy_to_proto(row) for row in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdatePolicy(self, request: pb.UpdatePolicyRequest, context: object) -> pb.UpdatePolicyResponse:
        changes = PolicyChanges(
            name=request.name if request.HasField("name") else None,
            target=request.target if request.HasField("target") else None,
            version=_version(request),
            state=enum_name(DESIRED_STATE_TO_PROTO, request.state) if request.HasField("state") else None,
            strategy=strategy_from_proto(request.strategy) if request.HasField("strategy") else None,
            mode=enum_name(MODE_TO_PROTO, request.mode) if request.HasField("mode") else None,
            enabled=request.enabled if request.HasField("enabled") else None,
        )
        policy = await self._policies().update(request.id, changes)
        return pb.UpdatePolicyResponse(policy=policy_to_proto(policy))

    async def DeletePolicy(self, request: pb.DeletePolicyRequest, context: object) -> pb.DeletePolicyResponse:
        await self._policies().delete(request.id)
        return pb.DeletePolicyResponse()

    async def GetPolicyCompliance(
        self, request: pb.GetPolicyComplianceRequest, context: object
    ) -> pb.GetPolicyComplianceResponse:
        view = await self._policies().compliance(
            request.policy_id,
            enum_name(COMPLIANCE_STATE_TO_PROTO, request.state),
            size=request.page_size,
            token=request.page_token,
        )
        return pb.GetPolicyComplianceResponse(
            nodes=[compliance_to_proto(row) for row in view.nodes],
            next_page_token=view.next_page_token,
            counts=counts_to_proto(pb.ComplianceCounts, view.counts),
        )

    async def GetComplianceSummary(
        self, request: pb.GetComplianceSummaryRequest, context: object
    ) -> pb.GetComplianceSummaryResponse:
        summary = await self._policies().summary()
        policies = [
            pb.PolicyComplianceSummary(
                policy_id=str(item.policy.id),
                policy_name=item.policy.name,
                counts=counts_to_proto(pb.ComplianceCounts, item.counts),
                checked_at=to_timestamp(item.policy.checked_at),
                mode=MODE_TO_PROTO[item.policy.mode],  # type: ignore[arg-type]
                enabled=item.policy.enabled,
                software_name=item.policy.software_name,
            )
            for item in summary.policies
        ]
        groups = [
            pb.GroupComplianceSummary(
                group_id=group.group_id,
                group_name=group.name,
                counts=counts_to_proto(pb.ComplianceCounts, group.counts),
            )
            for group in summary.groups
        ]
        return pb.GetComplianceSummaryResponse(
            policies=policies, total=counts_to_proto(pb.ComplianceCounts, summary.total), groups=groups
        )
