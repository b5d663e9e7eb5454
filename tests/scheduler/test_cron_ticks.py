"""Cron ticks across daylight-saving changes: a schedule runs once on the night clocks go back and at the
jump on the night they go forward, exactly when a maintenance window of the same cron opens."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.kit.errors import InvalidArgument
from services.scheduler.models import CRON
from services.scheduler.schedule_times import When, check_when, next_tick
from services.scheduler.windows import Window, window_state

NEW_YORK = "America/New_York"
# Clocks go back half an hour (02:00 -> 01:30) and forward half an hour (02:00 -> 02:30).
LORD_HOWE = "Australia/Lord_Howe"


def ticks(cron: str, zone: str, start: str, count: int) -> list[str]:
    """The next `count` ticks after `start`, each as its wall time with its offset."""
    found, after = [], datetime.fromisoformat(start)
    for _ in range(count):
        after = next_tick(cron, zone, after)
        found.append(after.astimezone(ZoneInfo(zone)).isoformat())
    return found


def test_a_daily_schedule_runs_once_on_the_night_clocks_go_back():
    # 2024-11-03 in New York: 01:00-02:00 happens twice (EDT, then EST).
    assert ticks("30 1 * * *", NEW_YORK, "2024-11-03T00:00:00+00:00", 3) == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-04T01:30:00-05:00",
        "2024-11-05T01:30:00-05:00",
    ]
    # Asked during the repeated hour (01:10 EST), the repeated 01:30 is not a tick any more.
    assert next_tick("30 1 * * *", NEW_YORK, datetime(2024, 11, 3, 6, 10, tzinfo=UTC)) == datetime(
        2024, 11, 4, 6, 30, tzinfo=UTC
    )


def test_an_hourly_schedule_runs_each_wall_clock_time_once_when_clocks_go_back():
    assert ticks("30 * * * *", NEW_YORK, "2024-11-03T04:00:00+00:00", 4) == [
        "2024-11-03T00:30:00-04:00",
        "2024-11-03T01:30:00-04:00",
        "2024-11-03T02:30:00-05:00",  # two real hours later: 01:30 EST was 01:30 again
        "2024-11-03T03:30:00-05:00",
    ]


def test_a_skipped_time_runs_at_the_jump_when_clocks_go_forward():
    # 2024-03-10 in New York: clocks jump from 02:00 EST to 03:00 EDT; 02:30 does not exist.
    assert ticks("30 2 * * *", NEW_YORK, "2024-03-09T12:00:00+00:00", 3) == [
        "2024-03-10T03:00:00-04:00",
        "2024-03-11T02:30:00-04:00",
        "2024-03-12T02:30:00-04:00",
    ]


def test_several_skipped_times_and_the_jump_itself_run_once():
    assert ticks("*/20 2,3 * * *", NEW_YORK, "2024-03-10T06:00:00+00:00", 3) == [
        "2024-03-10T03:00:00-04:00",  # 02:00, 02:20, 02:40 and 03:00: one run
        "2024-03-10T03:20:00-04:00",
        "2024-03-10T03:40:00-04:00",
    ]


def test_half_hour_changes_are_followed_too():
    # 2024-10-06 on Lord Howe Island: 02:00 -> 02:30; 2024-04-07: 02:00 -> 01:30.
    assert ticks("15 2 * * *", LORD_HOWE, "2024-10-05T12:00:00+00:00", 2) == [
        "2024-10-06T02:30:00+11:00",
        "2024-10-07T02:15:00+11:00",
    ]
    assert ticks("45 1 * * *", LORD_HOWE, "2024-04-06T12:00:00+00:00", 2) == [
        "2024-04-07T01:45:00+11:00",
        "2024-04-08T01:45:00+10:30",
    ]


@pytest.mark.parametrize(
    ("cron", "zone", "night"),
    [
        ("30 1 * * *", NEW_YORK, "2024-11-03T03:00:00+00:00"),
        ("30 * * * *", NEW_YORK, "2024-11-03T03:00:00+00:00"),
        ("30 2 * * *", NEW_YORK, "2024-03-10T04:00:00+00:00"),
        ("50 * * * *", NEW_YORK, "2024-03-10T04:00:00+00:00"),
        ("15 2 * * *", LORD_HOWE, "2024-10-05T13:00:00+00:00"),
        ("45 1 * * *", LORD_HOWE, "2024-04-06T13:00:00+00:00"),
    ],
)
def test_a_schedule_runs_when_a_window_of_the_same_cron_opens(cron: str, zone: str, night: str):
    window = Window(cron, timedelta(minutes=1), zone)
    after = datetime.fromisoformat(night)
    for _ in range(6):
        tick = next_tick(cron, zone, after)
        assert not window_state(window, tick - timedelta(seconds=1)).open
        opened = window_state(window, tick)
        # Compared in UTC: a repeated wall time never equals a time of another zone (PEP 495).
        assert opened.open and opened.opens_at.astimezone(UTC) == tick
        after = tick


def test_the_timezone_is_checked_by_its_field_name_and_defaults_to_utc():
    now = datetime(2026, 5, 1, tzinfo=UTC)
    for zone in ("Mars/Olympus", "../../etc/passwd", "x" * 300):
        with pytest.raises(InvalidArgument, match="schedule.cron.timezone .* is not a known IANA zone"):
            check_when(When(CRON, cron="0 2 * * *", timezone=zone), now)
    assert check_when(When(CRON, cron="0  2 * * *"), now) == When(CRON, cron="0 2 * * *", timezone="UTC")
    checked = check_when(When(CRON, cron="0 2 * * *", timezone=" Asia/Shanghai "), now)
    assert checked.timezone == "Asia/Shanghai"
