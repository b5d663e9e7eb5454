"""What the agent edge asks of the rollout: a node's work, and recording what a node reports.

The edge (another module) calls only these functions; the node id always comes from the node's
certificate. Recording is one transaction per message, with the target row locked, so a report and the
rollout loop (or an operator's cancel) never overwrite each other. A report about an assignment (and
attempt) the scheduler has no row for raises NotFound, one about another node's PermissionDenied.

Beyond the shared contract: `record_progress` and `record_result` take an optional keyword `limits`
(log head/tail); without it they use the limits the process configured with `configure(settings)`.

Leases: the rollout gives up on an attempt whose `lease_until` has passed. A node that is alive keeps
the leases of its work going (`touch`, on every heartbeat and progress report), up to
`install_grace_seconds` beyond the attempt's deadline; the deadline itself starts when the attempt first
reaches a connected node (`work_for_node(..., pushing=True)`), and again when an operator approves it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from google.protobuf.json_format import ParseDict
from sqlalchemy import text
from sqlmodel import col, select

from convoy.agent.v1 import agent_pb2 as agent_pb
from services.kit.audit_client import AuditClient
from services.kit.db import AsyncSession, Database
from services.kit.errors import InvalidArgument, NotFound, PermissionDenied
from services.kit.timestamps import from_timestamp, to_timestamp
from services.scheduler.events import Changes
from services.scheduler.logs import LogLimits, append_log, clean_text
from services.scheduler.metrics import dispatched
from services.scheduler.models import (
    AWAITING_APPROVAL,
    FAILED,
    FINAL_TARGET_STATES,
    IN_FLIGHT,
    SUCCEEDED,
    TARGET_STATES,
    UNCHANGED,
    Deployment,
    Target,
)
from services.scheduler.store import counts_of, finish_deployment

__all__ = [
    "AssignmentRow",
    "NodeWork",
    "ResultOutcome",
    "Timing",
    "configure",
    "timing",
    "touch",
    "fail_node_work",
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
# A progress report writes an event when the state changes, the percent crosses a step of this size, or
# this long after the attempt's last progress event; otherwise only the row changes.
_PERCENT_STEP = 10
_EVENT_INTERVAL = timedelta(seconds=5)
_IN_FLIGHT_SQL = "('assigned', 'downloading', 'installing', 'awaiting_approval')"


@dataclass(frozen=True)
class Timing:
    """How long a node has for an attempt, and how long the scheduler waits without hearing from it."""

    task_deadline: timedelta = timedelta(seconds=3600)
    lease: timedelta = timedelta(seconds=30)
    # How far beyond the deadline a node still alive keeps its lease.
    install_grace: timedelta = timedelta(hours=6)


_limits = LogLimits()
_timing = Timing()


def configure(
    head_lines: int,
    tail_lines: int,
    *,
    task_deadline_seconds: float = 3600,
    lease_seconds: float = 30,
    install_grace_seconds: float = 6 * 3600,
) -> None:
    """The log bounds and the timing of this process (server.py sets them from the settings)."""
    global _limits, _timing
    _limits = LogLimits(head_lines, tail_lines)
    _timing = Timing(
        task_deadline=timedelta(seconds=task_deadline_seconds),
        lease=timedelta(seconds=lease_seconds),
        install_grace=timedelta(seconds=install_grace_seconds),
    )


def timing() -> Timing:
    return _timing


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
    # Of the attempt's dispatch span ("" when not traced).
    traceparent: str = ""


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
    # Of the attempt's dispatch span: the parent of the phases the node timed ("" when not traced).
    traceparent: str = ""


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
        traceparent=target.traceparent,
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
        traceparent=row.traceparent,
    )
    if row.deploy_profile:
        ParseDict(row.deploy_profile, message.deploy_profile, ignore_unknown_fields=True)
    return message


# Rows of one node are locked in one order by every statement that changes several of them at once.
_TOUCH = text(
    "WITH alive AS (SELECT deployment_id, attempt FROM scheduler.targets"
    f" WHERE server_id = :node AND current AND state IN {_IN_FLIGHT_SQL}"
    " ORDER BY deployment_id FOR UPDATE SKIP LOCKED)"
    " UPDATE scheduler.targets t SET lease_until = GREATEST(t.lease_until,"
    " LEAST(CAST(:until AS timestamptz), t.deadline + CAST(:cap AS interval)))"
    " FROM alive WHERE t.deployment_id = alive.deployment_id AND t.server_id = :node"
    " AND t.attempt = alive.attempt"
)
_FIRST_PUSH = text(
    "WITH fresh AS (SELECT deployment_id, attempt FROM scheduler.targets"
    f" WHERE server_id = :node AND current AND state IN {_IN_FLIGHT_SQL} AND pushed_at IS NULL"
    " ORDER BY deployment_id FOR UPDATE)"
    " UPDATE scheduler.targets t SET pushed_at = :now, deadline = :deadline,"
    " lease_until = GREATEST(t.lease_until, :lease_until)"
    " FROM fresh WHERE t.deployment_id = fresh.deployment_id AND t.server_id = :node"
    " AND t.attempt = fresh.attempt RETURNING t.assigned_at"
)


async def touch(
    db: Database, node_id: str, *, now: datetime | None = None, session: AsyncSession | None = None
) -> None:
    """The node is alive: the leases of its work in flight run on (`lease` from now), up to
    `install_grace` beyond each attempt's deadline. Rows the rollout holds right now are left for the
    next heartbeat rather than waited for. In the caller's transaction when given one (a heartbeat)."""
    node = _node_uuid(node_id)
    now = now or _now()
    params = {"node": node, "until": now + _timing.lease, "cap": _timing.install_grace}
    if session is not None:
        await (await session.connection()).execute(_TOUCH, params)
        return
    async with db.transaction() as own:
        await (await own.connection()).execute(_TOUCH, params)


async def fail_node_work(session: AsyncSession, node_id: str, reason: str, changes: Changes) -> int:
    """In the caller's transaction (a revocation): the node's current attempts in flight fail with
    `reason`, and the rollout is woken to go on without it. How many failed."""
    node = _node_uuid(node_id)
    statement = (
        select(Target)
        .where(col(Target.server_id) == node, col(Target.current), col(Target.state).in_(IN_FLIGHT))
        .order_by(col(Target.deployment_id))
        .with_for_update()
    )
    rows = list(await session.exec(statement))
    for target in rows:
        target.state, target.message = FAILED, reason
        target.finished_at = target.updated_at = changes.now
        session.add(target)
        changes.target(target)
    if rows:
        await session.flush()
        changes.wake_rollout()
    return len(rows)


async def work_for_node(
    db: Database, node_id: str, *, pushing: bool = False, now: datetime | None = None
) -> NodeWork:
    """With `pushing` (the edge is about to send the work to the connected node), attempts that reach the
    node for the first time get their deadline from now: the time the node was away does not count."""
    node = _node_uuid(node_id)
    waits: list[timedelta] = []
    async with db.transaction() as session:
        if pushing:
            now = now or _now()
            deadline = now + _timing.task_deadline
            first = await (await session.connection()).execute(
                _FIRST_PUSH,
                {"node": node, "now": now, "deadline": deadline, "lease_until": deadline + _timing.lease},
            )
            waits = [now - assigned for (assigned,) in first if assigned is not None]
        statement = (
            select(Target)
            .where(col(Target.server_id) == node, col(Target.current), col(Target.state).in_(IN_FLIGHT))
            .order_by(col(Target.assigned_at), col(Target.deployment_id))
        )
        rows = list(await session.exec(statement))
    dispatched(waits)
    return NodeWork(
        assignments=[_row(target) for target in rows],
        cancels=[(str(t.assignment_id), t.attempt) for t in rows if t.cancel_requested],
        approvals=[
            (str(t.assignment_id), t.attempt) for t in rows if t.approved and t.state == AWAITING_APPROVAL
        ],
    )


def _assignment_key(assignment_id: str) -> uuid.UUID:
    """The id as the targets table keys it; NotFound for an id no assignment can have."""
    try:
        return uuid.UUID(assignment_id)
    except (ValueError, TypeError, AttributeError) as exc:
        raise NotFound(f"no assignment has the id {assignment_id[:64]!r}") from exc


class _Assigned(Protocol):
    """A target row, or the columns of one a query selected."""

    server_id: uuid.UUID
    attempt: int


_Found = TypeVar("_Found", bound=_Assigned)


def _check_owner(found: _Found | None, node: uuid.UUID, key: uuid.UUID, attempt: int) -> _Found:
    """NotFound when the scheduler has no such attempt (e.g. after a database restore): the node may drop
    its report, nothing can ever record it. PermissionDenied when the assignment is another node's."""
    if found is None:
        raise NotFound(f"assignment {key} does not exist")
    if found.server_id != node:
        raise PermissionDenied(f"assignment {key} is not assigned to this node")
    if found.attempt != attempt:
        raise NotFound(f"assignment {key} is attempt {found.attempt}, not {attempt}")
    return found


async def _owned(session: AsyncSession, node: uuid.UUID, assignment_id: str, attempt: int) -> Target:
    """The attempt, locked; refused as _check_owner says."""
    key = _assignment_key(assignment_id)
    statement = select(Target).where(col(Target.assignment_id) == key).with_for_update()
    return _check_owner((await session.exec(statement)).first(), node, key, attempt)


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
    # A report shows the node alive: its work keeps its leases.
    await touch(db, node_id, now=now)
    async with db.transaction() as session:
        target = await _owned(session, node, progress.assignment_id, progress.attempt)
        changes = Changes(now)
        await append_log(session, target, list(progress.log_lines), now, limits or _limits)
        percent = min(max(progress.percent, 0), 100)
        if state and target.current and target.state in IN_FLIGHT:
            if (state, percent) != (target.state, target.progress_percent):
                due = _progress_event_due(target, state, percent, now)
                target.state, target.progress_percent = state, percent
                target.started_at = target.started_at or now
                target.updated_at = now
                if due:
                    target.event_at = now
                    changes.target(target)
                if state == AWAITING_APPROVAL and target.approved:
                    changes.node(target.server_id)  # approved before it got here: tell it to go on
        session.add(target)
        await session.flush()
        await changes.flush(session)


def _progress_event_due(target: Target, state: str, percent: int, now: datetime) -> bool:
    """Watchers see every state change, each step of the percent, and otherwise one event per interval:
    a node reporting every second does not fill the event log."""
    if state != target.state or target.event_at is None:
        return True
    if percent // _PERCENT_STEP != target.progress_percent // _PERCENT_STEP:
        return True
    return now - target.event_at >= _EVENT_INTERVAL


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
    key = _assignment_key(result.assignment_id)
    async with db.transaction() as session:
        # The deployment first, then the target: the order of the rollout and the operator's controls.
        found = (
            await session.exec(
                select(Target.deployment_id, Target.server_id, Target.attempt).where(
                    col(Target.assignment_id) == key
                )
            )
        ).first()
        owner = _check_owner(found, node, key, result.attempt)
        deployment = (
            await session.exec(
                select(Deployment).where(col(Deployment.id) == owner.deployment_id).with_for_update()
            )
        ).one()
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
            if deployment.state in (SUCCEEDED, FAILED):
                await _refinish(session, deployment, changes)
        await changes.flush(session)
        return ResultOutcome(True, target.current, target.name, installed, target.format, target.traceparent)


async def _refinish(session: AsyncSession, deployment: Deployment, changes: Changes) -> None:
    """A result after the deployment finished (the rollout had given up on the node): its final state
    follows the node's word."""
    counts = await counts_of(session, deployment.id)
    if all(state in FINAL_TARGET_STATES for state in counts):
        await finish_deployment(session, deployment, counts, changes)
