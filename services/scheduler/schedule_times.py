"""When a schedule runs: the checks of a one-off time and of a cron expression in an IANA timezone, and
the next tick of a cron (read as services/scheduler/cron_ticks.py reads daylight-saving changes). Pure
decisions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, CroniterError, croniter

from services.kit.errors import InvalidArgument
from services.kit.text import has_control
from services.kit.timezones import check_timezone
from services.scheduler.cron_ticks import tick_after
from services.scheduler.models import AT, CRON

__all__ = [
    "AT_SKEW",
    "AT_HORIZON",
    "MIN_CRON_INTERVAL",
    "When",
    "check_when",
    "first_run",
    "next_tick",
]

# A time this little in the past is taken as "now": the caller's clock may be a little behind ours.
AT_SKEW = timedelta(seconds=60)
AT_HORIZON = timedelta(days=366)
# A recurring deployment more often than this is a mistake (every run is a whole rollout).
MIN_CRON_INTERVAL = timedelta(minutes=5)
_MAX_CRON = 128
_TIMEZONE_FIELD = "schedule.cron.timezone"
_DAY_MINUTES = 24 * 60
_FIELDS = "minute hour day-of-month month day-of-week"


@dataclass(frozen=True)
class When:
    """A schedule as asked for: AT with `at`, or CRON with `cron` and `timezone` ("" means UTC)."""

    kind: str
    at: datetime | None = None
    cron: str = ""
    timezone: str = ""


def _zone(name: str) -> ZoneInfo:
    """The schedule's IANA zone; an empty name means UTC."""
    return ZoneInfo(check_timezone(name.strip() or "UTC", _TIMEZONE_FIELD))


def _parsed(expression: str) -> croniter:
    """The expression as croniter reads it; exactly five fields (no seconds, no @daily shorthands)."""
    if len(expression) > _MAX_CRON or has_control(expression, "\t"):
        raise InvalidArgument(f"cron must be at most {_MAX_CRON} characters without control characters")
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidArgument(
            f"cron {expression!r} has {len(fields)} field(s); it needs five: {_FIELDS} (e.g. '0 2 * * 6')"
        )
    try:
        return croniter(" ".join(fields))
    except (CroniterError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidArgument(f"cron {expression!r} is not a valid cron expression: {exc}") from exc


def _shortest_gap(parsed: croniter) -> int:
    """The fewest minutes between two runs on one day (or across midnight, as if the next day runs too)."""
    minutes, hours = (
        range(limit) if field == ["*"] else [int(value) for value in field]
        for field, limit in zip(parsed.expanded[:2], (60, 24), strict=True)
    )
    times = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    return min([*gaps, times[0] + _DAY_MINUTES - times[-1]])


def next_tick(expression: str, timezone: str, after: datetime) -> datetime:
    """The first tick of the cron strictly after `after`, read in the timezone, as a UTC time: each
    wall-clock time once across daylight-saving changes, as maintenance windows read theirs."""
    try:
        return tick_after(expression, _zone(timezone), after)
    except CroniterBadDateError as exc:
        raise InvalidArgument(f"cron {expression!r} never runs (no such date)") from exc


def check_when(when: When, now: datetime) -> When:
    """The schedule checked, its cron normalised to single spaces and its timezone filled in."""
    if when.kind == AT:
        if when.at is None:
            raise InvalidArgument("schedule.at is required")
        if when.at < now - AT_SKEW:
            raise InvalidArgument(
                f"schedule.at {when.at.isoformat()} is in the past (now is {now.isoformat()}); "
                "leave the schedule out to start now"
            )
        if when.at > now + AT_HORIZON:
            raise InvalidArgument(f"schedule.at must be at most {AT_HORIZON.days} days ahead")
        return When(AT, at=when.at)
    if when.kind != CRON:
        raise InvalidArgument("schedule must set at or cron")
    if not when.cron.strip():
        raise InvalidArgument(f"schedule.cron.expression is required: five fields, {_FIELDS}")
    parsed = _parsed(when.cron)
    timezone = _zone(when.timezone).key
    gap = _shortest_gap(parsed)
    if gap < MIN_CRON_INTERVAL.total_seconds() // 60:
        raise InvalidArgument(
            f"cron {when.cron!r} runs {gap} minute(s) apart; a schedule may run at most every "
            f"{int(MIN_CRON_INTERVAL.total_seconds() // 60)} minutes"
        )
    expression = " ".join(when.cron.split())
    next_tick(expression, timezone, now)
    return When(CRON, cron=expression, timezone=timezone)


def first_run(when: When, now: datetime) -> datetime:
    """When a checked schedule runs first: its time (at once if that just passed), or the next tick."""
    if when.kind == AT:
        return max(when.at or now, now)
    return next_tick(when.cron, when.timezone, now)
