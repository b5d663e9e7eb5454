"""What the agent edge asks of the rollout: a node's work, and recording what a node reports.

The edge (another module) calls only these functions; the node id always comes from the node's
certificate. Recording is one transaction per message, with the target row locked, so a report and the
rollout loop (or an operator's cancel) never overwrite each other.

Beyond the shared contract: `record_progress` and `record_result` take an optional keyword `limits`
(log head/tail); without it they use the limits the process configured with `configure(settings)`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import ParseDict
from sqlmodel import col, select

from convoy.agent.v1 import agent_pb2 as agent_pb
from services.kit.audit_client import AuditClient
from services.kit.db import AsyncSession, Database
from services.kit.errors import InvalidArgument, PermissionDenied
from services.kit.timestamps import from_timestamp, to_timestamp
from services.scheduler.events import Changes
from services.scheduler.logs import LogLimits, append_log, clean_text
from services.scheduler.models import (
    AWAITING_APPROVAL,
    FINAL_TARGET_STATES,
    IN_FLIGHT,
    SUCCEEDED,
    TARGET_STATES,
    UNCHANGED,
    Target,
)

__all__ = [
    "AssignmentRow",
    "NodeWork",
    "ResultOutcome",
    "configure",
    "work_for_node",
    "record_progress",
    "record_result",
    "assignment_message",
]

# TaskState numbers are TargetState numbers (the proto says so); PENDING (1) is never the node's.
_TASK_STATES = {number: name for number, name in enumerate(TARGET_STATES, start=1) if name != "pending"}
_ACTIONS = {"install": 1, "update": 2, "uninstall": 3, "rollback": 4}
_FORMATS = {"deb": 1, "rpm": 2, "tar": 3, "container": 4}
_MESSAGE_CHARS = 2048
_limits = LogLimits()


def configure(head_lines: int, tail_lines: int) -> None:
    """The log bounds of this process (server.py sets them from the settings)."""
    global _limits
    _limits = LogLimits(head_lines, tail_lines)


@dataclass(frozen=True)
class AssignmentRow:
    """One attempt a node must run, with everything an agent_pb.Assignment needs but the grant."""

    assignment_id: str
    deployment_id: str
    server_id: str
    attempt: int
    action: str
    state: str
    name: str
    version: str
    release: str
    format: str
    arch: str
    sha256: str
    size: int
    signature: str
    deploy_profile: dict[str, Any] | None
    deadline: datetime | None
    # The node must wait in AWAITING_APPROVAL after downloading until approved (false once approved).
    require_approval: bool = False


@dataclass(frozen=True)
class NodeWork:
    """What a node must be told now."""

    # Current attempts in ASSIGNED/DOWNLOADING/INSTALLING/AWAITING_APPROVAL, oldest assignment first.
    assignments: list[AssignmentRow]
    # (assignment_id, attempt) with cancel_requested and not final.
    cancels: list[tuple[str, int]]
    # (assignment_id, attempt) approved while AWAITING_APPROVAL.
    approvals: list[tuple[str, int]]


@dataclass(frozen=True)
class ResultOutcome:
    # False for a repeated result (already recorded); the edge acknowledges it all the same.
    recorded: bool
    # False for a result of an attempt that a retry has replaced (kept on that attempt only).
    current: bool
    software_name: str
    # What the node reports installed now; "" when the software is not installed.
    installed_version: str
    format: str


def _node_uuid(node_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(node_id)
    except (ValueError, TypeError, AttributeError) as exc:
        raise PermissionDenied("the node identity is not a node id") from exc


def _row(target: Target) -> AssignmentRow:
    return AssignmentRow(
        assignment_id=str(target.assignment_id),
        deployment_id=str(target.deployment_id),
        server_id=str(target.server_id),
        attempt=target.attempt,
        action=target.action,
        state=target.state,
        name=target.name,
        version=target.version,
        release=target.release,
        format=target.format,
        arch=target.arch,
        sha256=target.sha256,
        size=target.size,
        signature=target.signature,
        deploy_profile=target.deploy_profile,
        deadline=target.deadline,
        require_approval=not target.approved,
    )


def assignment_message(row: AssignmentRow) -> agent_pb.Assignment:
    """The assignment for the node, without download grant and transfer address (the edge adds them)."""
    message = agent_pb.Assignment(
        assignment_id=row.assignment_id,
        deployment_id=row.deployment_id,
        attempt=row.attempt,
        action=_ACTIONS[row.action],  # type: ignore[arg-type]
        package=agent_pb.PackageFacts(
            name=row.name,
            version=row.version,
            release=row.release,
            format=_FORMATS[row.format],  # type: ignore[arg-type]
            arch=row.arch,
            sha256=row.sha256,
            size=row.size,
            signature=row.signature,
        ),
        deadline=to_timestamp(row.deadline),
        require_approval=row.require_approval,
    )
    if row.deploy_profile:
        ParseDict(row.deploy_profile, message.deploy_profile, ignore_unknown_fields=True)
    return message


async def work_for_node(db: Database, node_id: str) -> NodeWork:
    node = _node_uuid(node_id)
    async with db.transaction() as session:
        statement = (
            select(Target)
            .where(col(Target.server_id) == node, col(Target.current), col(Target.state).in_(IN_FLIGHT))
            .order_by(col(Target.assigned_at), col(Target.deployment_id))
        )
        rows = list(await session.exec(statement))
    return NodeWork(
        assignments=[_row(target) for target in rows],
        cancels=[(str(t.assignment_id), t.attempt) for t in rows if t.cancel_requested],
        approvals=[
            (str(t.assignment_id), t.attempt) for t in rows if t.approved and t.state == AWAITING_APPROVAL
        ],
    )


async def _owned(session: AsyncSession, node: uuid.UUID, assignment_id: str, attempt: int) -> Target:
    """The attempt, locked; PermissionDenied unless it was assigned to this node."""
    try:
        key = uuid.UUID(assignment_id)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidArgument(f"assignment_id must be a UUID, got {assignment_id[:64]!r}") from exc
    statement = select(Target).where(col(Target.assignment_id) == key).with_for_update()
    target = (await session.exec(statement)).first()
    if target is None or target.server_id != node:
        raise PermissionDenied(f"assignment {key} is not assigned to this node")
    if target.attempt != attempt:
        raise InvalidArgument(f"assignment {key} is attempt {target.attempt}, not {attempt}")
    return target


def _now() -> datetime:
    return datetime.now(UTC)


async def record_progress(
    db: Database,
    audit: AuditClient | None,
    node_id: str,
    progress: agent_pb.TaskProgress,
    *,
    limits: LogLimits | None = None,
) -> None:
    """Log lines are kept for any attempt; the state and percent only move a current attempt in flight.

    `audit` is not written to: progress is an observation, and refusals are audited by the caller.
    """
    node, now = _node_uuid(node_id), _now()
    state = _TASK_STATES.get(progress.state, "") if progress.state else ""
    if progress.state and state not in IN_FLIGHT:
        raise InvalidArgument(
            "a progress state must be assigned, downloading, installing or awaiting approval"
        )
    async with db.transaction() as session:
        target = await _owned(session, node, progress.assignment_id, progress.attempt)
        changes = Changes(now)
        await append_log(session, target, list(progress.log_lines), now, limits or _limits)
        percent = min(max(progress.percent, 0), 100)
        if state and target.current and target.state in IN_FLIGHT:
            if (state, percent) != (target.state, target.progress_percent):
                target.state, target.progress_percent = state, percent
                target.started_at = target.started_at or now
                target.updated_at = now
                changes.target(target)
        session.add(target)
        await session.flush()
        await changes.flush(session)


async def record_result(
    db: Database,
    audit: AuditClient | None,
    node_id: str,
    result: agent_pb.TaskResult,
    *,
    limits: LogLimits | None = None,
) -> ResultOutcome:
    """Records the node's final word on an attempt (the node's word wins over a deadline the scheduler
    gave up on). A result of a replaced attempt is kept on that attempt, never on the current one; a
    repeated result changes nothing."""
    node, now = _node_uuid(node_id), _now()
    state = _TASK_STATES.get(result.state, "")
    if state not in FINAL_TARGET_STATES:
        raise InvalidArgument("a result state must be succeeded, unchanged, failed, skipped or cancelled")
    started, finished = from_timestamp(result, "started_at"), from_timestamp(result, "finished_at")
    async with db.transaction() as session:
        target = await _owned(session, node, result.assignment_id, result.attempt)
        installed = clean_text(result.installed_version, 256)
        if target.reported:
            return ResultOutcome(False, target.current, target.name, target.installed_version, target.format)
        changes = Changes(now)
        # The tail repeats what progress messages carried; it is the log only when none came.
        if target.log_line_count == 0:
            await append_log(session, target, list(result.log_tail), now, limits or _limits)
        target.state, target.installed_version = state, installed
        target.message = clean_text(result.message, _MESSAGE_CHARS)
        if state in (SUCCEEDED, UNCHANGED):
            target.progress_percent = 100
        target.started_at = target.started_at or started or now
        target.finished_at = finished or now
        target.reported, target.updated_at = True, now
        session.add(target)
        await session.flush()
        changes.target(target)
        if target.current:
            changes.wake_rollout()
        await changes.flush(session)
        return ResultOutcome(True, target.current, target.name, installed, target.format)
