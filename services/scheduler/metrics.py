"""Prometheus metrics of the scheduler: agent streams, enrollments, the rollout and the reconciler of this
process, and the deployment, target and compliance gauges every replica reads from the database (the same
value in each: aggregate those with max, not sum)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event, text
from sqlalchemy.orm import Session as OrmSession

from convoy.agent.v1 import agent_pb2 as agent_pb
from services.kit.db import AsyncSession, Database
from services.kit.errors import DomainError, Unavailable
from services.kit.metrics import CountGauge, refresh_every
from services.scheduler.models import (
    ACTIONS,
    COMPLIANCE_STATES,
    DEPLOYMENT_STATES,
    FINAL_TARGET_STATES,
    TARGET_STATES,
)

if TYPE_CHECKING:  # the sessions module imports what imports this one
    from services.scheduler.sessions import Session

__all__ = [
    "agent_connected",
    "agent_gone",
    "enrollment_answered",
    "enrollment_redeemed",
    "target_finished",
    "dispatched",
    "ReconcilePass",
    "reconcile_pass",
    "corrected",
    "STATS_STATEMENTS",
    "show_stats",
    "refresh_stats",
]

ENROLLED, REFUSED = "enrolled", "refused"
OK, ERROR = "ok", "error"
UNKNOWN_FAMILY = "unknown"
_FAMILIES = {agent_pb.PACKAGE_FAMILY_DEB: "deb", agent_pb.PACKAGE_FAMILY_RPM: "rpm"}

AGENTS_CONNECTED = Gauge(
    "convoy_agents_connected", "Agent streams open to this scheduler process", ["os_family"]
)
ENROLLMENTS = Counter("convoy_enrollments_total", "Enrollment requests answered", ["result"])
DEPLOYMENTS = Gauge("convoy_deployments", "Deployments, from the database", ["state"])
DEPLOYMENT_TARGETS = Gauge(
    "convoy_deployment_targets", "Targets of deployments (current attempts), from the database", ["state"]
)
COMPLIANCE_NODES = Gauge("convoy_compliance_nodes", "Node x policy pairs, from the database", ["state"])
TARGETS_FINISHED = Counter(
    "convoy_targets_finished_total", "Targets this process saw reach a final state", ["state"]
)
# Seconds when the node is connected; up to hours when it was away and got its work on reconnecting.
DISPATCH_SECONDS = Histogram(
    "convoy_rollout_dispatch_seconds",
    "From a target's assignment by the rollout to the assignment first reaching the agent's stream",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
)
RECONCILE_RUNS = Counter("convoy_reconcile_runs_total", "Reconciler passes", ["result"])
RECONCILE_SECONDS = Histogram(
    "convoy_reconcile_seconds",
    "Duration of a reconciler pass",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
RECONCILE_CORRECTIONS = Counter(
    "convoy_reconcile_corrections_total", "Nodes the reconciler sent a deployment to", ["action"]
)

for _family in (*_FAMILIES.values(), UNKNOWN_FAMILY):
    AGENTS_CONNECTED.labels(_family)
for _result in (ENROLLED, REFUSED):
    ENROLLMENTS.labels(_result)
for _state in FINAL_TARGET_STATES:
    TARGETS_FINISHED.labels(_state)
for _result in (OK, ERROR):
    RECONCILE_RUNS.labels(_result)
for _action in ACTIONS:
    RECONCILE_CORRECTIONS.labels(_action)
_DEPLOYMENTS = CountGauge(DEPLOYMENTS, [(state,) for state in DEPLOYMENT_STATES])
_TARGETS = CountGauge(DEPLOYMENT_TARGETS, [(state,) for state in TARGET_STATES])
_COMPLIANCE = CountGauge(COMPLIANCE_NODES, [(state,) for state in COMPLIANCE_STATES])

# The family each open stream is counted under (its hello said so), until the stream ends.
_STREAMS: dict[Session, str] = {}


def agent_connected(session: Session, package_family: int) -> None:
    """The stream's hello arrived: counted under the node's package family until agent_gone()."""
    family = _FAMILIES.get(package_family, UNKNOWN_FAMILY)  # type: ignore[call-overload]
    agent_gone(session)  # a second hello on one stream moves it rather than counting it twice
    _STREAMS[session] = family
    AGENTS_CONNECTED.labels(family).inc()


def agent_gone(session: Session) -> None:
    family = _STREAMS.pop(session, None)
    if family is not None:
        AGENTS_CONNECTED.labels(family).dec()


@dataclass
class _Enrollment:
    redeemed: bool = False


# The enrollment the current task answers, for enrollment_redeemed() to mark.
_ENROLLMENT: ContextVar[_Enrollment | None] = ContextVar("convoy_enrollment", default=None)


@contextmanager
def enrollment_answered() -> Iterator[None]:
    """Counts the enrollment the block answers: enrolled when it ends normally, refused when it raises a
    domain error before auth redeemed the token. An outage (auth or inventory unavailable), internal
    errors, and a failure after the redeem (inventory refusing the facts of a node auth has enrolled)
    say nothing about the node's token, and are not counted."""
    answer = _Enrollment()
    token = _ENROLLMENT.set(answer)
    try:
        yield
    except DomainError as exc:
        if not answer.redeemed and not isinstance(exc, Unavailable):
            ENROLLMENTS.labels(REFUSED).inc()
        raise
    finally:
        _ENROLLMENT.reset(token)
    ENROLLMENTS.labels(ENROLLED).inc()


def enrollment_redeemed() -> None:
    """Auth redeemed the join token of the enrollment being answered: from now on it is no refusal."""
    answer = _ENROLLMENT.get()
    if answer is not None:
        answer.redeemed = True


def target_finished(session: AsyncSession, states: Iterable[str]) -> None:
    """Targets that reached these final states in the session's transaction: counted once it commits."""
    finished = list(states)
    if finished:
        _on_commit(session, lambda: _count_finished(finished))


def _count_finished(states: list[str]) -> None:
    for state in states:
        TARGETS_FINISHED.labels(state).inc()


def dispatched(waits: Iterable[timedelta]) -> None:
    """Assignments that reached their node's stream for the first time, each after waiting this long
    since the rollout assigned it (a clock set back counts as no wait)."""
    for wait in waits:
        DISPATCH_SECONDS.observe(max(wait.total_seconds(), 0.0))


@dataclass
class ReconcilePass:
    """One pass as the metrics see it: failed when it raised, or when a policy could not be checked."""

    failed: bool = False


@contextmanager
def reconcile_pass() -> Iterator[ReconcilePass]:
    """Times the pass the block runs and counts it by its result; a pass cut off by the process stopping
    (cancelled) is not counted."""
    run = ReconcilePass()
    started = time.perf_counter()
    try:
        yield run
    except Exception:
        run.failed = True
        _passed(run, started)
        raise
    _passed(run, started)


def _passed(run: ReconcilePass, started: float) -> None:
    RECONCILE_SECONDS.observe(time.perf_counter() - started)
    RECONCILE_RUNS.labels(ERROR if run.failed else OK).inc()


def corrected(session: AsyncSession, action: str, nodes: int) -> None:
    """The reconciler created, in the session's transaction, a deployment that changes `nodes` drifted
    nodes with `action`: counted once it commits."""
    _on_commit(session, lambda: RECONCILE_CORRECTIONS.labels(action).inc(nodes))


# Counts waiting for their transaction, in the session's info: a rolled-back change happened to nothing.
_PENDING = "convoy.metrics.pending"


def _on_commit(session: AsyncSession, count: Callable[[], None]) -> None:
    """Runs `count` when the session's transaction commits, never when it rolls back."""
    sync = session.sync_session
    pending = sync.info.get(_PENDING)
    if pending is None:
        pending = sync.info[_PENDING] = []
        event.listen(sync, "after_commit", _committed)
        event.listen(sync, "after_rollback", _rolled_back)
    pending.append(count)


def _committed(session: OrmSession) -> None:
    pending = session.info.get(_PENDING, [])
    counts, pending[:] = list(pending), []
    for count in counts:
        count()


def _rolled_back(session: OrmSession) -> None:
    session.info.get(_PENDING, []).clear()


# What the gauges read, by gauge; each has an index to read (migration 0006).
STATS_STATEMENTS = {
    "deployments": "SELECT state, count(*) FROM scheduler.deployments GROUP BY state",
    "targets": "SELECT state, count(*) FROM scheduler.targets WHERE current GROUP BY state",
    "compliance": "SELECT state, count(*) FROM scheduler.compliance GROUP BY state",
}


async def show_stats(db: Database) -> None:
    """Reads the deployment, target and compliance counts into their gauges."""
    counts: dict[str, dict[tuple[str, ...], float]] = {}
    async with db.transaction() as session:
        connection = await session.connection()
        for name, statement in STATS_STATEMENTS.items():
            rows = (await connection.execute(text(statement))).all()
            counts[name] = {(str(state),): float(count) for state, count in rows if state}
    _DEPLOYMENTS.show(counts["deployments"])
    _TARGETS.show(counts["targets"])
    _COMPLIANCE.show(counts["compliance"])


async def refresh_stats(db: Database, seconds: float) -> None:
    """Until cancelled: the gauges read from the database, every `seconds`."""
    await refresh_every(seconds, lambda: show_stats(db), "the deployment, target and compliance counts")
