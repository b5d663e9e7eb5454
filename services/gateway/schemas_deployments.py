"""JSON shapes of deployments, their targets and events, join tokens and node revocation, and their
conversion to and from scheduler and enrollment messages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from services.gateway.schemas import Input
from services.gateway.schemas_enums import json_enum
from services.gateway.schemas_inventory import TargetIn
from services.kit.timestamps import from_timestamp

__all__ = [
    "Action",
    "DeploymentState",
    "TargetState",
    "Origin",
    "ACTION",
    "ACTION_VALUES",
    "DEPLOYMENT_STATE_VALUES",
    "TARGET_STATE_VALUES",
    "StrategyModel",
    "DeploymentCreate",
    "TargetPublic",
    "CountsPublic",
    "DeploymentPublic",
    "DeploymentPage",
    "ResolvedServerPublic",
    "IncompatibleServerPublic",
    "DeploymentCreated",
    "DeploymentTargetPublic",
    "DeploymentTargetPage",
    "LogLinePublic",
    "TargetLog",
    "ReasonIn",
    "ServersIn",
    "Retried",
    "Approved",
    "JoinTokenCreate",
    "JoinTokenPublic",
    "JoinTokenCreated",
    "JoinTokenPage",
    "RevokeIn",
    "StrategyPublic",
    "strategy_in",
    "strategy_out",
    "target_out",
    "deployment_out",
    "deployment_target_out",
    "resolved_out",
    "incompatible_out",
    "log_line_out",
    "join_token_out",
    "EventData",
    "event_name",
    "event_data",
]

# Largest count a strategy field may hold: far above any fleet, far below what an int32 overflows at.
_MAX_COUNT = 1_000_000
# What an int32 field of a request can carry; anything the service accepts is far below.
_MAX_INT32 = 2**31 - 1
# Ids are UUIDs; the services say so precisely. The bound only keeps absurd text out of a request.
_ID = 64

ACTION = json_enum(sched_pb.Action)
DEPLOYMENT_STATE = json_enum(sched_pb.DeploymentState)
TARGET_STATE = json_enum(sched_pb.TargetState)
ORIGIN = json_enum(sched_pb.Origin)
Action, DeploymentState = ACTION.type, DEPLOYMENT_STATE.type
TargetState, Origin = TARGET_STATE.type, ORIGIN.type
ACTION_VALUES, DEPLOYMENT_STATE_VALUES = ACTION.values, DEPLOYMENT_STATE.values
TARGET_STATE_VALUES = TARGET_STATE.values


class StrategyModel(Input):
    """How fast a rollout goes and when it stops. Batch size and failure budget are each a count or a
    percentage; 0 (or left out) means the scheduler's default."""

    batch_size: int = Field(0, ge=0, le=_MAX_COUNT)
    batch_percent: int = Field(0, ge=0, le=100)
    max_failures: int = Field(0, ge=0, le=_MAX_COUNT)
    max_failure_percent: int = Field(0, ge=0, le=100)
    canary: bool = Field(False, description="pause after the first batch until an operator resumes")
    pause_between_batches_seconds: int = Field(0, ge=0, le=86400)
    require_approval: bool = Field(False, description="each node waits in awaiting_approval")

    @model_validator(mode="after")
    def _count_or_percent(self) -> StrategyModel:
        if self.batch_size and self.batch_percent:
            raise ValueError("give batch_size or batch_percent, not both")
        if self.max_failures and self.max_failure_percent:
            raise ValueError("give max_failures or max_failure_percent, not both")
        return self


class DeploymentCreate(Input):
    """`package_id` and `target` are required, except for a rollback of another deployment, which takes
    both from it."""

    package_id: str = Field("", max_length=_ID)
    action: Action
    target: TargetIn | None = None
    strategy: StrategyModel | None = None
    dry_run: bool = Field(False, description="resolve and check only; nothing is written")
    rollback_deployment_id: str = Field("", max_length=_ID)

    @model_validator(mode="after")
    def _what_and_where(self) -> DeploymentCreate:
        if self.rollback_deployment_id and self.action != "rollback":
            raise ValueError("rollback_deployment_id goes with action rollback only")
        if not self.rollback_deployment_id:
            if not self.package_id:
                raise ValueError("package_id is required (unless rolling back a deployment)")
            if self.target is None:
                raise ValueError("target is required (unless rolling back a deployment)")
        return self


class TargetPublic(BaseModel):
    """Exactly one field is set."""

    server_id: str | None = None
    group_id: str | None = None
    all: bool | None = None
    selector: str | None = None


class StrategyPublic(BaseModel):
    batch_size: int
    batch_percent: int
    max_failures: int
    max_failure_percent: int
    canary: bool
    pause_between_batches_seconds: int
    require_approval: bool


class CountsPublic(BaseModel):
    """Targets per state, over the current attempt of every target."""

    total: int
    pending: int
    assigned: int
    downloading: int
    installing: int
    succeeded: int
    unchanged: int
    failed: int
    skipped: int
    cancelled: int
    awaiting_approval: int


class DeploymentPublic(BaseModel):
    id: str
    package_id: str
    software_name: str
    version: str
    action: Action | None
    target: TargetPublic | None
    strategy: StrategyPublic
    state: DeploymentState | None
    state_reason: str
    origin: Origin | None
    policy_id: str
    schedule_id: str
    rollback_deployment_id: str
    override_maintenance_window: bool
    counts: CountsPublic
    current_batch: int
    batch_count: int
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class DeploymentPage(BaseModel):
    items: list[DeploymentPublic]
    next_page_token: str
    total: int


class ResolvedServerPublic(BaseModel):
    server_id: str
    hostname: str
    installed_version: str
    batch: int


class IncompatibleServerPublic(BaseModel):
    server_id: str
    hostname: str
    reason: str


class DeploymentCreated(BaseModel):
    """`deployment` is null on a dry run; `resolved` and `incompatible` preview the nodes either way."""

    deployment: DeploymentPublic | None
    resolved: list[ResolvedServerPublic]
    incompatible: list[IncompatibleServerPublic]


class DeploymentTargetPublic(BaseModel):
    deployment_id: str
    server_id: str
    hostname: str
    attempt: int
    batch: int
    state: TargetState | None
    progress_percent: int
    message: str
    previous_version: str
    installed_version: str
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime | None


class DeploymentTargetPage(BaseModel):
    items: list[DeploymentTargetPublic]
    next_page_token: str
    total: int


class LogLinePublic(BaseModel):
    time: datetime | None
    text: str


class TargetLog(BaseModel):
    """The head and the tail of a target's log; `dropped_lines` were cut from the middle."""

    lines: list[LogLinePublic]
    dropped_lines: int


class ReasonIn(Input):
    # The scheduler keeps at most 1000 characters of an operator's reason.
    reason: str = Field("", max_length=1000)


class ServersIn(Input):
    """Empty or left out: every target the change applies to."""

    server_ids: list[str] = Field(default_factory=list, max_length=10000)


class Retried(BaseModel):
    deployment: DeploymentPublic
    retried: int


class Approved(BaseModel):
    deployment: DeploymentPublic
    approved: int


class JoinTokenCreate(Input):
    """A token for one node (`server_id`: an existing server record) or for new nodes, which join
    `group_ids` when they enroll. Lifetime and uses are bounded by auth's settings, which auth checks
    (its refusal, with the bounds, is the 400); 0 or left out means auth's default."""

    server_id: str = Field("", max_length=_ID)
    group_ids: list[str] = Field(default_factory=list, max_length=100)
    ttl_seconds: int = Field(
        0, ge=0, le=_MAX_INT32, description="lifetime in seconds; 0: auth's default (30 minutes unless set)"
    )
    max_uses: int = Field(0, ge=0, le=_MAX_INT32, description="enrollments allowed; 0: auth's default (one)")


class JoinTokenPublic(BaseModel):
    id: str
    server_id: str
    group_ids: list[str]
    expires_at: datetime | None
    max_uses: int
    uses: int
    revoked: bool
    created_by: str
    created_at: datetime | None


class JoinTokenCreated(BaseModel):
    """`token` is shown only here, once; `command` is what to run on a node where the agent is installed,
    `install_command` what installs the agent from this gateway's packages and enrolls it in one go — null
    when it could not work (no agent packages on this gateway, or plain HTTP outside dev mode), and
    `install_unavailable` then says why."""

    join_token: JoinTokenPublic
    token: str
    ca_fingerprint: str
    command: str
    install_command: str | None
    install_unavailable: str | None = Field(None, description="why there is no install_command")


class JoinTokenPage(BaseModel):
    items: list[JoinTokenPublic]
    next_page_token: str


class RevokeIn(Input):
    # Auth and the scheduler keep at most 500 characters of a revocation's reason.
    reason: str = Field("", max_length=500)


def strategy_in(strategy: StrategyModel | None) -> sched_pb.Strategy | None:
    if strategy is None:
        return None
    return sched_pb.Strategy(**strategy.model_dump())


def target_out(target: inv_pb.Target) -> TargetPublic | None:
    """The one field the target sets; null when it sets none (a message from an older scheduler)."""
    which = target.WhichOneof("target")
    return TargetPublic(**{which: getattr(target, which)}) if which else None


def strategy_out(strategy: sched_pb.Strategy) -> StrategyPublic:
    """A deployment's, schedule's or policy's strategy, every field shown (0: the scheduler's default)."""
    return StrategyPublic(**{name: getattr(strategy, name) for name in StrategyPublic.model_fields})


def deployment_out(deployment: sched_pb.Deployment) -> DeploymentPublic:
    counts = deployment.counts
    return DeploymentPublic(
        id=deployment.id,
        package_id=deployment.package_id,
        software_name=deployment.software_name,
        version=deployment.version,
        action=ACTION.name(deployment.action),
        target=target_out(deployment.target),
        strategy=strategy_out(deployment.strategy),
        state=DEPLOYMENT_STATE.name(deployment.state),
        state_reason=deployment.state_reason,
        origin=ORIGIN.name(deployment.origin),
        policy_id=deployment.policy_id,
        schedule_id=deployment.schedule_id,
        rollback_deployment_id=deployment.rollback_deployment_id,
        override_maintenance_window=deployment.override_maintenance_window,
        counts=CountsPublic(**{name: getattr(counts, name) for name in CountsPublic.model_fields}),
        current_batch=deployment.current_batch,
        batch_count=deployment.batch_count,
        created_by=deployment.created_by,
        created_at=from_timestamp(deployment, "created_at"),
        updated_at=from_timestamp(deployment, "updated_at"),
        started_at=from_timestamp(deployment, "started_at"),
        finished_at=from_timestamp(deployment, "finished_at"),
    )


def deployment_target_out(target: sched_pb.DeploymentTarget) -> DeploymentTargetPublic:
    return DeploymentTargetPublic(
        deployment_id=target.deployment_id,
        server_id=target.server_id,
        hostname=target.hostname,
        attempt=target.attempt,
        batch=target.batch,
        state=TARGET_STATE.name(target.state),
        progress_percent=target.progress_percent,
        message=target.message,
        previous_version=target.previous_version,
        installed_version=target.installed_version,
        started_at=from_timestamp(target, "started_at"),
        finished_at=from_timestamp(target, "finished_at"),
        updated_at=from_timestamp(target, "updated_at"),
    )


def resolved_out(server: sched_pb.ResolvedServer) -> ResolvedServerPublic:
    return ResolvedServerPublic(
        server_id=server.server_id,
        hostname=server.hostname,
        installed_version=server.installed_version,
        batch=server.batch,
    )


def incompatible_out(server: sched_pb.IncompatibleServer) -> IncompatibleServerPublic:
    return IncompatibleServerPublic(
        server_id=server.server_id, hostname=server.hostname, reason=server.reason
    )


def log_line_out(line: sched_pb.LogLine) -> LogLinePublic:
    return LogLinePublic(time=from_timestamp(line, "time"), text=line.text)


def join_token_out(token: auth_pb.JoinToken) -> JoinTokenPublic:
    return JoinTokenPublic(
        id=token.id,
        server_id=token.server_id,
        group_ids=list(token.group_ids),
        expires_at=from_timestamp(token, "expires_at"),
        max_uses=token.max_uses,
        uses=token.uses,
        revoked=token.revoked,
        created_by=token.created_by,
        created_at=from_timestamp(token, "created_at"),
    )


def event_name(event: sched_pb.DeploymentEvent) -> str:
    """The SSE event type: "deployment" or "target" (what changed)."""
    return event.WhichOneof("change") or "deployment"


def event_data(event: sched_pb.DeploymentEvent) -> str:
    """The SSE data line: the event's sequence, time and deployment id, and the changed deployment or
    target in the same shape the REST routes give them (one line of JSON)."""
    change = event.WhichOneof("change")
    data = EventData(
        sequence=event.sequence,
        time=from_timestamp(event, "time"),
        deployment_id=event.deployment_id,
        deployment=deployment_out(event.deployment) if change == "deployment" else None,
        target=deployment_target_out(event.target) if change == "target" else None,
    )
    return data.model_dump_json(exclude={"target"} if change == "deployment" else {"deployment"})


class EventData(BaseModel):
    """One event: `deployment` is set for a "deployment" event, `target` for a "target" event."""

    sequence: int
    time: datetime | None
    deployment_id: str
    deployment: DeploymentPublic | None = None
    target: DeploymentTargetPublic | None = None
