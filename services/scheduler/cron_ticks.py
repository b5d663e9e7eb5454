"""Ticks of a cron expression read as wall-clock times in an IANA zone, each wall-clock time once.

Schedules and maintenance windows share this reading of daylight-saving changes: a wall time that
happens twice (clocks go back) ticks once, at its first occurrence; a wall time that does not exist
(clocks jump forward over it) ticks when the clocks jump, and several such ticks of one night become
that one tick. croniter on zoned times does neither (it ticks twice in the repeated hour and drops some
skipped ticks), so it walks naive wall-clock times here and each is placed in the zone afterwards.
Raises croniter's CroniterBadDateError (a ValueError) for an expression whose date never comes.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

__all__ = ["tick_after", "tick_at_or_before"]

# croniter's get_prev leaves out a tick exactly at its start; starting a hair later keeps it.
_JUST_AFTER = timedelta(microseconds=1)


def tick_after(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first tick strictly after `after` (timezone-aware), as a UTC time."""
    after = after.astimezone(UTC)
    walls = croniter(cron, _wall(after, zone))
    # In the repeated hour, wall times just after `after`'s own already had their first occurrence.
    while (tick := _instant(walls.get_next(datetime), zone)) <= after:
        pass
    return tick


def tick_at_or_before(cron: str, zone: ZoneInfo, moment: datetime) -> datetime:
    """The last tick at or before `moment` (timezone-aware), as a UTC time."""
    moment = moment.astimezone(UTC)
    walls = croniter(cron, _latest_wall(moment, zone) + _JUST_AFTER)
    while (tick := _instant(walls.get_prev(datetime), zone)) > moment:
        pass
    return tick


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _latest_wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """The latest wall time that may have had its first occurrence by `moment`: the moment's own, or in
    the repeated hour its wall time as the clocks showed it before they went back (every wall time up
    to the change has happened once by then)."""
    first_offset = moment.astimezone(zone).replace(fold=0).utcoffset() or timedelta(0)
    return (moment + first_offset).replace(tzinfo=None)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC time of a wall time: its first occurrence (fold 0), or the jump when it does not exist."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(instant, zone) == wall:
        return instant
    return _jump(wall, zone)


def _jump(wall: datetime, zone: ZoneInfo) -> datetime:
    """The moment the clocks jump over a wall time that does not exist. Read with the offset after the
    jump, the wall time falls before it; read with the offset before, after it: the jump is the first
    whole second in between that has the later offset (zone changes fall on whole seconds)."""
    early, late = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    offset = early.astimezone(zone).utcoffset()
    seconds = range(int((late - early).total_seconds()) + 1)
    jumped = bisect.bisect_left(
        seconds,
        True,
        key=lambda second: (early + timedelta(seconds=second)).astimezone(zone).utcoffset() != offset,
    )
    return early + timedelta(seconds=jumped)
