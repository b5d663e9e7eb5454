"""Rows of the scheduler schema as convoy.scheduler.v1 messages (responses and the payload of events)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.timestamps import to_timestamp
from services.scheduler.models import (
    ACTIONS,
    COMPLIANT,
    CONVERGING,
    DEPLOYMENT_STATES,
    DRIFTED,
    FAILED,
    INCOMPATIBLE,
    TARGET_STATES,
    Compliance,
    Deployment,
    Target,
)
from services.scheduler.planning import StrategySpec

if TYPE_CHECKING:  # service.py reaches this module through events.py
    from services.scheduler.service import Plan

__all__ = [
    "COMPLIANCE_STATE_TO_PROTO",
    "enum_name",
    "strategy_from_proto",
    "compliance_to_proto",
    "ACTION_TO_PROTO",
    "DEPLOYMENT_STATE_TO_PROTO",
    "TARGET_STATE_TO_PROTO",
    "STRATEGY_FIELDS",
    "deployment_to_proto",
    "target_to_proto",
    "counts_to_proto",
    "preview_to_proto",
    "target_spec_to_proto",
]

# Enum numbers follow the order of the names (UNSPECIFIED is 0), as the proto declares them.
ACTION_TO_PROTO = {name: number for number, name in enumerate(ACTIONS, start=1)}
DEPLOYMENT_STATE_TO_PROTO = {name: number for number, name in enumerate(DEPLOYMENT_STATES, start=1)}
TARGET_STATE_TO_PROTO = {name: number for number, name in enumerate(TARGET_STATES, start=1)}
STRATEGY_FIELDS = (
    "batch_size",
    "batch_percent",
    "max_failures",
    "max_failure_percent",
    "canary",
    "pause_between_batches_seconds",
    "require_approval",
)
_ORIGIN_TO_PROTO = {"manual": pb.ORIGIN_MANUAL, "policy": pb.ORIGIN_POLICY}
COMPLIANCE_STATE_TO_PROTO = {
    COMPLIANT: pb.COMPLIANCE_STATE_COMPLIANT,
    DRIFTED: pb.COMPLIANCE_STATE_DRIFTED,
    CONVERGING: pb.COMPLIANCE_STATE_CONVERGING,
    FAILED: pb.COMPLIANCE_STATE_FAILED,
    INCOMPATIBLE: pb.COMPLIANCE_STATE_INCOMPATIBLE,
}


def enum_name(table: Mapping[str, int], value: int) -> str:
    """The domain name of an enum value: "" for UNSPECIFIED, and a name no use case accepts otherwise."""
    if value == 0:
        return ""
    return next((name for name, number in table.items() if number == value), f"unknown value {value}")


def strategy_from_proto(message: pb.Strategy) -> StrategySpec:
    return StrategySpec(**{name: getattr(message, name) for name in STRATEGY_FIELDS})


def compliance_to_proto(row: Compliance) -> pb.NodeCompliance:
    """One node under one policy, as responses and compliance events show it."""
    return pb.NodeCompliance(
        policy_id=str(row.policy_id),
        server_id=str(row.server_id),
        hostname=row.hostname,
        desired_version=row.desired_version,
        installed_version=row.installed_version,
        state=COMPLIANCE_STATE_TO_PROTO[row.state],  # type: ignore[arg-type]
        deployment_id=str(row.deployment_id or ""),
        message=row.message,
        checked_at=to_timestamp(row.checked_at),
        failed_attempts=row.failed_attempts,
        retry_at=to_timestamp(row.retry_at),
        changed_at=to_timestamp(row.changed_at),
    )


def target_spec_to_proto(kind: str, value: str) -> inventory_pb.Target:
    """A stored target (deployments, schedules, policies) as inventory's Target message."""
    if kind == "all":
        return inventory_pb.Target(all=True)
    if kind in ("server_id", "group_id", "selector"):
        return inventory_pb.Target(**{kind: value})
    # A rollback keeps the target of the deployment it undoes, whatever kind that was.
    return inventory_pb.Target()


Counts = TypeVar("Counts", pb.TargetCounts, pb.ComplianceCounts)


def counts_to_proto(kind: type[Counts], counts: Mapping[str, int]) -> Counts:
    """Numbers by state, and their total, as a counts message (targets of a deployment, nodes under a
    policy): each state is a field of the message."""
    message = kind(total=sum(counts.values()))
    for state, number in counts.items():
        setattr(message, state, number)
    return message


def preview_to_proto(plan: Plan) -> tuple[list[pb.ResolvedServer], list[pb.IncompatibleServer]]:
    """The nodes a planned deployment covers (with their batch) and those it leaves out, and why."""
    resolved = [
        pb.ResolvedServer(
            server_id=t.server_id, hostname=t.hostname, installed_version=t.previous_version, batch=t.batch
        )
        for t in plan.runnable
    ]
    incompatible = [
        pb.IncompatibleServer(server_id=t.server_id, hostname=t.hostname, reason=t.skip_reason)
        for t in plan.targets
        if t.skip_reason
    ]
    return resolved, incompatible


def deployment_to_proto(row: Deployment, counts: Mapping[str, int] | None = None) -> pb.Deployment:
    strategy = {name: row.strategy[name] for name in STRATEGY_FIELDS if name in row.strategy}
    return pb.Deployment(
        id=str(row.id),
        package_id=str(row.package_id or ""),
        software_name=row.software_name,
        version=row.version,
        action=ACTION_TO_PROTO[row.action],  # type: ignore[arg-type]
        target=target_spec_to_proto(row.target_kind, row.target_value),
        strategy=pb.Strategy(**strategy),
        state=DEPLOYMENT_STATE_TO_PROTO[row.state],  # type: ignore[arg-type]
        state_reason=row.state_reason,
        origin=_ORIGIN_TO_PROTO.get(row.origin, pb.ORIGIN_UNSPECIFIED),
        policy_id=str(row.policy_id or ""),
        schedule_id=str(row.schedule_id or ""),
        counts=counts_to_proto(pb.TargetCounts, counts) if counts is not None else None,
        current_batch=row.current_batch,
        batch_count=row.batch_count,
        created_by=row.created_by,
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
        started_at=to_timestamp(row.started_at),
        finished_at=to_timestamp(row.finished_at),
        rollback_deployment_id=str(row.rollback_deployment_id or ""),
        override_maintenance_window=row.override_window,
    )


def target_to_proto(row: Target) -> pb.DeploymentTarget:
    return pb.DeploymentTarget(
        deployment_id=str(row.deployment_id),
        server_id=str(row.server_id),
        hostname=row.hostname,
        attempt=row.attempt,
        state=TARGET_STATE_TO_PROTO[row.state],  # type: ignore[arg-type]
        progress_percent=row.progress_percent,
        message=row.message,
        started_at=to_timestamp(row.started_at),
        finished_at=to_timestamp(row.finished_at),
        batch=row.batch,
        previous_version=row.previous_version,
        installed_version=row.installed_version,
        updated_at=to_timestamp(row.updated_at),
    )
