"""Tables of the scheduler schema: deployments, their targets per attempt, target logs, events, agent sessions,
sync policies with their per-node compliance, and schedules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, LargeBinary, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "SCHEMA",
    "ACTIONS",
    "INSTALL",
    "UPDATE",
    "UNINSTALL",
    "ROLLBACK",
    "DEPLOYMENT_STATES",
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "PAUSED",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "FINAL_DEPLOYMENT_STATES",
    "TARGET_STATES",
    "ASSIGNED",
    "DOWNLOADING",
    "INSTALLING",
    "UNCHANGED",
    "SKIPPED",
    "AWAITING_APPROVAL",
    "IN_FLIGHT",
    "FINAL_TARGET_STATES",
    "Deployment",
    "Target",
    "TargetLog",
    "Event",
    "Node",
    "PRESENT",
    "ABSENT",
    "ENFORCE",
    "REPORT",
    "EXACT",
    "LATEST",
    "COMPLIANT",
    "DRIFTED",
    "CONVERGING",
    "INCOMPATIBLE",
    "COMPLIANCE_STATES",
    "AT",
    "CRON",
    "ACTIVE",
    "DONE",
    "SCHEDULE_STATES",
    "Policy",
    "Compliance",
    "Schedule",
]

SCHEMA = "scheduler"

INSTALL, UPDATE, UNINSTALL, ROLLBACK = "install", "update", "uninstall", "rollback"
ACTIONS = (INSTALL, UPDATE, UNINSTALL, ROLLBACK)

SCHEDULED, PENDING, RUNNING, PAUSED = "scheduled", "pending", "running", "paused"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
DEPLOYMENT_STATES = (SCHEDULED, PENDING, RUNNING, PAUSED, SUCCEEDED, FAILED, CANCELLED)
FINAL_DEPLOYMENT_STATES = (SUCCEEDED, FAILED, CANCELLED)

ASSIGNED, DOWNLOADING, INSTALLING, AWAITING_APPROVAL = (
    "assigned",
    "downloading",
    "installing",
    "awaiting_approval",
)
UNCHANGED, SKIPPED = "unchanged", "skipped"
TARGET_STATES = (
    PENDING,
    ASSIGNED,
    DOWNLOADING,
    INSTALLING,
    SUCCEEDED,
    UNCHANGED,
    FAILED,
    SKIPPED,
    CANCELLED,
    AWAITING_APPROVAL,
)
# Told to the node and not finished: what counts against the batch size.
IN_FLIGHT = (ASSIGNED, DOWNLOADING, INSTALLING, AWAITING_APPROVAL)
FINAL_TARGET_STATES = (SUCCEEDED, UNCHANGED, FAILED, SKIPPED, CANCELLED)

# Sync policies: what a node should have, and whether drift is corrected or only shown.
PRESENT, ABSENT = "present", "absent"
ENFORCE, REPORT = "enforce", "report"
EXACT, LATEST = "exact", "latest"
COMPLIANT, DRIFTED, CONVERGING, INCOMPATIBLE = "compliant", "drifted", "converging", "incompatible"
# FAILED (above) as well: the last deployment for the node failed and the next waits for its backoff.
COMPLIANCE_STATES = (COMPLIANT, DRIFTED, CONVERGING, FAILED, INCOMPATIBLE)

# Schedules: once at a time, or on every tick of a cron expression.
AT, CRON = "at", "cron"
ACTIVE, DONE = "active", "done"
SCHEDULE_STATES = (ACTIVE, DONE, CANCELLED)


def _utc(**kwargs: object) -> Any:
    """A timezone-aware timestamp column."""
    return Field(sa_type=DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


class Deployment(SQLModel, table=True):
    """One request to put a package on (or take software off) a snapshot of servers."""

    __tablename__ = "deployments"
    __table_args__ = (
        # Newest first, and the keyset cursor of the listing.
        Index("deployments_created", "created_at", "id"),
        # What the rollout loop claims.
        Index("deployments_active", "state", postgresql_where=text("state IN ('pending', 'running')")),
        Index(
            "deployments_unfinished",
            "state",
            postgresql_where=text(
                "state IN ('pending', 'running', 'paused') OR (state = 'cancelled' AND finished_at IS NULL)"
            ),
        ),
        # Event retention.
        Index("deployments_finished", "finished_at", postgresql_where=text("finished_at IS NOT NULL")),
        # The metrics' count by state.
        Index("deployments_state", "state"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # For a rollback, the package most targets go back to; None when every target removes the software.
    package_id: uuid.UUID | None = Field(default=None, nullable=True, index=True)
    software_name: str = Field(max_length=128, index=True)
    version: str = Field(default="", max_length=128)
    release: str = Field(default="", max_length=128)
    format: str = Field(max_length=16)
    arch: str = Field(default="", max_length=32)
    action: str = Field(max_length=16)
    target_kind: str = Field(max_length=16)
    target_value: str = Field(default="", max_length=4096)
    # The strategy as asked for (Strategy fields by name).
    strategy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    # The strategy as resolved at creation: targets per batch and failures allowed.
    batch_size: int
    failure_budget: int
    state: str = Field(max_length=24)
    state_reason: str = Field(default="", max_length=1024)
    origin: str = Field(default="manual", max_length=16)
    policy_id: uuid.UUID | None = Field(default=None, nullable=True, index=True)
    schedule_id: uuid.UUID | None = Field(default=None, nullable=True)
    rollback_deployment_id: uuid.UUID | None = Field(default=None, nullable=True)
    created_by: str = Field(max_length=200, index=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    started_at: datetime | None = _utc(default=None, nullable=True)
    finished_at: datetime | None = _utc(default=None, nullable=True)
    current_batch: int = 0
    batch_count: int = 0
    # Failures an operator accepted by resuming: the budget counts only failures beyond them.
    failure_baseline: int = 0
    canary_done: bool = False
    # With pause_between_batches_seconds: the next batch does not start before this.
    next_batch_at: datetime | None = _utc(default=None, nullable=True)
    request_id: str = Field(default="", max_length=128)
    # Urgent: targets go out even while their groups' maintenance windows are closed.
    override_window: bool = False
    # W3C traceparent of the request that created the deployment ("" when not traced): each target's
    # dispatch, which comes later from the rollout loop, continues that trace.
    traceparent: str = Field(default="", max_length=128)


class Target(SQLModel, table=True):
    """One server in one deployment, for one attempt; exactly one attempt per server is `current`."""

    __tablename__ = "targets"
    __table_args__ = (
        Index(
            "targets_current",
            "deployment_id",
            "server_id",
            unique=True,
            postgresql_where=text("current"),
        ),
        Index("targets_assignment", "assignment_id", unique=True),
        # What a node must be told: its current attempts that are in flight.
        Index(
            "targets_node_in_flight",
            "server_id",
            postgresql_where=text(
                "current AND state IN ('assigned', 'downloading', 'installing', 'awaiting_approval')"
            ),
        ),
        Index("targets_batch_order", "deployment_id", "batch", "hostname", "server_id"),
        # The metrics' count of current attempts by state.
        Index("targets_current_state", "state", postgresql_where=text("current")),
        {"schema": SCHEMA},
    )

    deployment_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.deployments.id", primary_key=True)
    server_id: uuid.UUID = Field(primary_key=True)
    attempt: int = Field(default=1, primary_key=True)
    current: bool = True
    hostname: str = Field(default="", max_length=253)
    # From 1; 0 for a target skipped at creation (it runs in no batch).
    batch: int = 0
    state: str = Field(max_length=24)
    progress_percent: int = 0
    message: str = Field(default="", max_length=2048)
    previous_version: str = Field(default="", max_length=256)
    installed_version: str = Field(default="", max_length=256)
    action: str = Field(max_length=16)
    # The package this target gets (its own: a rollback sends each node its previous version).
    package_id: uuid.UUID | None = Field(default=None, nullable=True)
    name: str = Field(max_length=128)
    version: str = Field(default="", max_length=128)
    release: str = Field(default="", max_length=128)
    format: str = Field(max_length=16)
    arch: str = Field(default="", max_length=32)
    sha256: str = Field(default="", max_length=64)
    size: int = Field(default=0, sa_type=BigInteger)
    signature: str = ""
    deploy_profile: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONB(none_as_null=True), nullable=True)
    )
    # Set when the attempt is assigned; stable across redeliveries of the attempt.
    assignment_id: uuid.UUID | None = Field(default=None, nullable=True)
    approved: bool = False
    cancel_requested: bool = False
    # The node's own result was recorded (a repeated result after a reconnect changes nothing).
    reported: bool = False
    # The process that assigned the attempt, and when the scheduler stops waiting for the node's result.
    leased_by: str = Field(default="", max_length=128)
    lease_until: datetime | None = _utc(default=None, nullable=True)
    # The node gives up on the attempt after this (Assignment.deadline). Set at assignment, and started
    # again when the attempt first reaches a connected node and when an operator approves it.
    deadline: datetime | None = _utc(default=None, nullable=True)
    # When the attempt was first pushed to a connected node.
    pushed_at: datetime | None = _utc(default=None, nullable=True)
    # When the last progress event of the attempt was written (progress events are throttled).
    event_at: datetime | None = _utc(default=None, nullable=True)
    assigned_at: datetime | None = _utc(default=None, nullable=True)
    started_at: datetime | None = _utc(default=None, nullable=True)
    finished_at: datetime | None = _utc(default=None, nullable=True)
    updated_at: datetime = _utc()
    # Lines ever appended to this attempt's log (the kept ones are in target_logs).
    log_line_count: int = Field(default=0, sa_type=BigInteger)
    # The node's groups when the deployment was created: the target is assigned only while the maintenance
    # window of every one of them that has one is open (unless the deployment overrides windows).
    group_ids: list[str] | None = Field(
        default=None, sa_column=Column(JSONB(none_as_null=True), nullable=True)
    )
    # W3C traceparent of the attempt's dispatch span ("" when not traced): the assignment carries it to
    # the node, and the node's timed phases are relayed as its children.
    traceparent: str = Field(default="", max_length=128)


class TargetLog(SQLModel, table=True):
    """Output of one attempt: the first log_head_lines and the last log_tail_lines are kept."""

    __tablename__ = "target_logs"
    __table_args__ = {"schema": SCHEMA}

    deployment_id: uuid.UUID = Field(primary_key=True)
    server_id: uuid.UUID = Field(primary_key=True)
    attempt: int = Field(primary_key=True)
    seq: int = Field(primary_key=True, sa_type=BigInteger)
    time: datetime = _utc()
    text: str


class Event(SQLModel, table=True):
    """A DeploymentEvent as WatchDeployment replays it; sequence and time live in columns, not the payload."""

    __tablename__ = "events"
    __table_args__ = (Index("events_deployment", "deployment_id", "sequence"), {"schema": SCHEMA})

    sequence: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    time: datetime = _utc()
    deployment_id: uuid.UUID
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Node(SQLModel, table=True):
    """An agent's session as the scheduler processes see it."""

    __tablename__ = "nodes"
    __table_args__ = {"schema": SCHEMA}

    node_id: uuid.UUID = Field(primary_key=True)
    hostname: str = Field(default="", max_length=253)
    revoked_at: datetime | None = _utc(default=None, nullable=True)
    connected_by: str = Field(default="", max_length=128)
    connected_at: datetime | None = _utc(default=None, nullable=True)
    last_seen: datetime | None = _utc(default=None, nullable=True)
    disconnected_at: datetime | None = _utc(default=None, nullable=True)
    revoked_reason: str = Field(default="", max_length=1000)
    # When the node was last reported offline, so that it is reported once.
    offline_at: datetime | None = _utc(default=None, nullable=True)
    # The latest enrollment: certificates issued before it belong to an earlier holder of the id.
    enrolled_at: datetime | None = _utc(default=None, nullable=True)


class Policy(SQLModel, table=True):
    """A sync policy: the nodes of a target run (or do not run) a software at a version, kept so."""

    __tablename__ = "policies"
    __table_args__ = (Index("policies_name", text("lower(name)"), unique=True), {"schema": SCHEMA})

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=128)
    target_kind: str = Field(max_length=16)
    target_value: str = Field(default="", max_length=4096)
    software_name: str = Field(max_length=128, index=True)
    # EXACT (exact_version) or LATEST; ignored for ABSENT.
    version_mode: str = Field(max_length=16)
    exact_version: str = Field(default="", max_length=128)
    desired_state: str = Field(max_length=16)
    strategy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    mode: str = Field(max_length=16)
    enabled: bool = True
    created_by: str = Field(max_length=200)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    # Bumped by every change of what the policy wants: failed attempts counted under an earlier
    # generation no longer hold a node back.
    generation: int = 1
    # The last full check of the policy.
    checked_at: datetime | None = _utc(default=None, nullable=True)


class Compliance(SQLModel, table=True):
    """One node under one policy, as the reconciler last saw it."""

    __tablename__ = "compliance"
    __table_args__ = (Index("compliance_state", "policy_id", "state"), {"schema": SCHEMA})

    policy_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.policies.id", primary_key=True, ondelete="CASCADE")
    server_id: uuid.UUID = Field(primary_key=True)
    hostname: str = Field(default="", max_length=253)
    # The node's groups when it was checked (the summary by group).
    group_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    desired_version: str = Field(default="", max_length=256)
    installed_version: str = Field(default="", max_length=256)
    state: str = Field(max_length=16)
    message: str = Field(default="", max_length=2048)
    # The deployment converging the node, or the last one the policy made for it.
    deployment_id: uuid.UUID | None = Field(default=None, nullable=True)
    # The outcome of deployment_id was counted (failed_attempts, retry_at).
    outcome_counted: bool = False
    failed_attempts: int = 0
    # Why the last counted attempt failed.
    last_failure: str = Field(default="", max_length=1024)
    retry_at: datetime | None = _utc(default=None, nullable=True)
    # The policy generation the attempts were counted under.
    generation: int = 1
    checked_at: datetime = _utc()
    changed_at: datetime = _utc()


class Schedule(SQLModel, table=True):
    """A deployment request that runs later: once (AT) or on every tick of a cron expression (CRON)."""

    __tablename__ = "schedules"
    __table_args__ = (
        Index("schedules_due", "next_run_at", postgresql_where=text("state = 'active'")),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    package_id: uuid.UUID
    software_name: str = Field(max_length=128)
    version: str = Field(default="", max_length=128)
    action: str = Field(max_length=16)
    target_kind: str = Field(max_length=16)
    target_value: str = Field(default="", max_length=4096)
    strategy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    override_window: bool = False
    kind: str = Field(max_length=8)
    run_at: datetime | None = _utc(default=None, nullable=True)
    cron: str = Field(default="", max_length=128)
    timezone: str = Field(default="", max_length=64)
    state: str = Field(max_length=16)
    next_run_at: datetime | None = _utc(default=None, nullable=True)
    last_run_at: datetime | None = _utc(default=None, nullable=True)
    last_deployment_id: uuid.UUID | None = Field(default=None, nullable=True)
    # The deployment waiting in SCHEDULED for next_run_at.
    next_deployment_id: uuid.UUID | None = Field(default=None, nullable=True)
    last_error: str = Field(default="", max_length=2048)
    created_by: str = Field(max_length=200)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    request_id: str = Field(default="", max_length=128)
