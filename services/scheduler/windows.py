"""Maintenance windows of inventory groups, as the rollout applies them to its targets.

A group's window opens at each tick of its cron expression, read as wall-clock time in the group's
timezone, and stays open for `duration_seconds` of real time. A target waits in PENDING while the window
of any of its groups (the node's groups when the deployment was created) is closed: a node in several
restricted groups changes only while all of their windows are open, because each group's owner promised
that its machines change only inside its window, and the looser reading would break that promise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import Text, and_, func, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from services.kit.db import AsyncSession
from services.scheduler.cron_ticks import tick_after, tick_at_or_before
from services.scheduler.events import Changes
from services.scheduler.models import PENDING, Deployment, Target

__all__ = [
    "NOTHING_WAITS",
    "WAIT_PREFIX",
    "Waits",
    "Window",
    "WindowBook",
    "WindowState",
    "first_waiting_reason",
    "show_waiting",
    "window_state",
]

log = logging.getLogger("convoy.scheduler.windows")

# Every message about a target or deployment waiting for windows starts so (and only those do).
WAIT_PREFIX = "waiting for the maintenance window"
UNKNOWN_REASON = f"{WAIT_PREFIX}s of its groups: they cannot be read from the inventory now"
# When a deployment newer than the last read needs a fresh one, reads may come this often (at most).
_MIN_READ_GAP = 1.0


@dataclass(frozen=True)
class Window:
    cron: str
    duration: timedelta
    timezone: str

    @classmethod
    def of(cls, window: inventory_pb.MaintenanceWindow) -> Window:
        """The window of a group; ValueError when it cannot be evaluated here: a zone or cron expression
        this process does not know, or a date that never comes ("0 0 31 2 *" passes the inventory's
        field-by-field check)."""
        zone = ZoneInfo(window.timezone)
        if not croniter.is_valid(window.cron):
            raise ValueError(f"cron {window.cron!r} is not understood")
        tick_after(window.cron, zone, datetime.now(UTC))  # CroniterBadDateError: never
        return cls(window.cron, timedelta(seconds=window.duration_seconds), window.timezone)


@dataclass(frozen=True)
class WindowState:
    """The window's current opening (when open) or its next one (when closed)."""

    open: bool
    opens_at: datetime
    closes_at: datetime


def window_state(window: Window, now: datetime) -> WindowState:
    """Whether the window is open at `now` (timezone-aware): open iff the latest tick at or before now
    satisfies tick <= now < tick + duration. Ticks are wall-clock times in the window's zone, each once
    (services/scheduler/cron_ticks.py: a tick skipped by the clocks jumping forward opens the window at
    the jump, a repeated wall time opens it at its first occurrence); the duration is real time. Times
    come back in the window's zone."""
    zone = ZoneInfo(window.timezone)
    tick = tick_at_or_before(window.cron, zone, now)
    if now < tick + window.duration:
        return _state(True, tick, window, zone)
    return _state(False, tick_after(window.cron, zone, now), window, zone)


def _state(is_open: bool, tick: datetime, window: Window, zone: ZoneInfo) -> WindowState:
    """The opening at the UTC `tick`, shown in the window's zone; the duration is added in UTC (adding
    to a zoned time would add wall-clock time, an hour off across a daylight-saving change)."""
    return WindowState(is_open, tick.astimezone(zone), (tick + window.duration).astimezone(zone))


@dataclass(frozen=True)
class Waits:
    """Which targets of one deployment wait for maintenance windows at one instant."""

    # Closed group id -> how the group is named in messages: "'db' (opens 2026-11-29T02:00:00+08:00)".
    groups: Mapping[str, str] = field(default_factory=dict)
    # Every target with a group waits: the windows are not known.
    every_group: bool = False
    # With every_group, why; empty while a read of the windows is on its way (nothing is shown then).
    reason_all: str = ""

    @property
    def shown(self) -> bool:
        """Whether targets and the deployment may say why they wait (not while a read is on its way)."""
        return not self.every_group or bool(self.reason_all)

    def condition(self) -> Any:
        """The SQL condition on Target of waiting, or None when no target waits."""
        ids = col(Target.group_ids)
        if self.every_group:
            return and_(ids.is_not(None), func.jsonb_array_length(ids) > 0)
        if self.groups:
            return and_(ids.is_not(None), ids.has_any(literal(sorted(self.groups), ARRAY(Text))))
        return None

    def reason(self, group_ids: Sequence[str]) -> str:
        """What a target of these groups waits for."""
        if self.every_group:
            return self.reason_all
        closed = [self.groups[group_id] for group_id in group_ids if group_id in self.groups]
        if len(closed) == 1:
            return f"{WAIT_PREFIX} of group {closed[0]}"
        return f"{WAIT_PREFIX}s of groups {', '.join(closed[:-1])} and {closed[-1]}"


NOTHING_WAITS = Waits()


@dataclass(frozen=True)
class _Restricted:
    name: str
    window: Window | None
    # Why the window cannot be evaluated (then it counts as closed).
    problem: str = ""


GroupSource = Callable[[], Awaitable[Sequence[inventory_pb.Group]]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WindowBook:
    """The groups' maintenance windows, read from the inventory every `refresh_seconds` and again (at most
    once a second) when a deployment newer than the last read asks, so that a deployment is never judged
    by windows older than itself. Reading never raises: a failed read keeps the last one; without any,
    targets in groups wait (whether their groups are restricted is unknown, and waiting is the safe side).
    `wall` must be the clock deployments' created_at comes from; `now` of the answers is the rollout's."""

    def __init__(
        self,
        source: GroupSource,
        *,
        refresh_seconds: float,
        wall: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source, self.refresh_seconds = source, refresh_seconds
        self._wall, self._monotonic = wall, monotonic
        self._restricted: dict[str, _Restricted] | None = None
        self._read_at: datetime | None = None  # when the last good read began
        self._tried_at: datetime | None = None  # when the last read began, good or not
        self._tried_mono: float | None = None
        self.wanted = False  # a deployment waits for a fresh read
        self._closed_at: datetime | None = None
        self._closed: dict[str, str] = {}

    def read_due_in(self) -> float:
        """Seconds until the next read may begin."""
        if self._tried_mono is None:
            return 0.0
        gap = min(self.refresh_seconds, _MIN_READ_GAP) if self.wanted else self.refresh_seconds
        return max(0.0, self._tried_mono + gap - self._monotonic())

    async def refresh(self) -> None:
        """Reads the groups when a read is due; a failure is logged, never raised."""
        if self.read_due_in() > 0:
            return
        started, self._tried_mono = self._wall(), self._monotonic()
        self._tried_at, self.wanted = started, False
        try:
            groups = await self._source()
        except Exception as exc:  # noqa: BLE001 - the rollout must go on without the inventory
            kept = (
                f"the read of {self._read_at.isoformat()} is used"
                if self._read_at
                else "targets in groups wait"
            )
            log.warning("maintenance windows could not be read from the inventory (%s); %s", exc, kept)
            return
        self._restricted = {g.id: _restricted(g) for g in groups if g.HasField("maintenance_window")}
        self._read_at, self._closed_at = started, None

    def waits(self, now: datetime, since: datetime) -> Waits:
        """Which targets of a deployment created at `since` wait at `now`."""
        if self._read_at is None or self._read_at < since:
            if self._tried_at is None or self._tried_at < since:
                self.wanted = True
                return Waits(every_group=True)
            if self._restricted is None:
                return Waits(every_group=True, reason_all=UNKNOWN_REASON)
        return Waits(self._closed_groups(now))

    def _closed_groups(self, now: datetime) -> dict[str, str]:
        if self._closed_at != now:
            self._closed_at = now
            self._closed = {
                group_id: phrase
                for group_id, group in (self._restricted or {}).items()
                if (phrase := _closed_phrase(group, now))
            }
        return self._closed


def _restricted(group: inventory_pb.Group) -> _Restricted:
    try:
        return _Restricted(group.name, Window.of(group.maintenance_window))
    except (ValueError, KeyError) as exc:
        log.error("the maintenance window of group %r cannot be evaluated: %s", group.name, exc)
        return _Restricted(group.name, None, f"its window cannot be evaluated: {exc}")


def _closed_phrase(group: _Restricted, now: datetime) -> str:
    """How a closed group is named in messages; empty when its window is open."""
    if group.window is None:
        return f"'{group.name}' ({group.problem})"
    state = window_state(group.window, now)
    return "" if state.open else f"'{group.name}' (opens {state.opens_at.isoformat()})"


def _started(deployment: Deployment) -> tuple[Any, ...]:
    """Pending current targets of the batches the deployment has started."""
    return (
        col(Target.deployment_id) == deployment.id,
        col(Target.current),
        col(Target.state) == PENDING,
        col(Target.batch) <= deployment.current_batch,
    )


async def show_waiting(session: AsyncSession, deployment: Deployment, waits: Waits, changes: Changes) -> None:
    """Pending targets of started batches say which windows they wait for; those that no longer wait
    lose that message. A target is written (and an event sent) only when its message changes."""
    if not waits.shown:
        return
    condition = waits.condition()
    stale = select(Target).where(*_started(deployment), col(Target.message).startswith(WAIT_PREFIX))
    if condition is not None:
        stale = stale.where(~condition)
    for target in await session.exec(stale.with_for_update()):
        _set_message(session, target, "", changes)
    if condition is None:
        return
    combinations = select(col(Target.group_ids)).distinct().where(*_started(deployment), condition)
    for group_ids in (await session.exec(combinations)).all():
        reason = waits.reason(group_ids or [])
        changed = select(Target).where(
            *_started(deployment), col(Target.group_ids) == group_ids, col(Target.message) != reason
        )
        for target in await session.exec(changed.with_for_update()):
            _set_message(session, target, reason, changes)
    await session.flush()


def _set_message(session: AsyncSession, target: Target, message: str, changes: Changes) -> None:
    target.message, target.updated_at = message, changes.now
    session.add(target)
    changes.target(target)


async def first_waiting_reason(session: AsyncSession, deployment: Deployment, waits: Waits) -> str:
    """Why the first waiting target (in batch order) of started batches waits; empty when none does."""
    condition = waits.condition()
    if condition is None:
        return ""
    statement = (
        select(col(Target.group_ids))
        .where(*_started(deployment), condition)
        .order_by(col(Target.batch), col(Target.hostname), col(Target.server_id))
        .limit(1)
    )
    group_ids = (await session.exec(statement)).first()
    return "" if group_ids is None else waits.reason(group_ids)
