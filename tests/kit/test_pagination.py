"""Page cursors: whatever a client puts in a token is refused as InvalidArgument, never passed on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.kit.errors import InvalidArgument
from services.kit.pagination import read_time, read_token, scope, write_token


def test_a_time_written_into_a_token_reads_back_as_the_same_instant() -> None:
    listing = scope("things", "a filter")
    moment = datetime(2030, 5, 17, 8, 30, 1, 123456, tzinfo=timezone(timedelta(hours=8)))
    position = read_token(write_token(listing, t=moment.isoformat()), listing, "t")
    assert position is not None
    read = read_time(position["t"])
    assert read == moment and read.utcoffset() == timedelta(hours=8)


def test_a_utc_time_keeps_its_zone() -> None:
    assert read_time("2030-01-01T00:00:00+00:00") == datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["2030-01-01T00:00:00", "2030-01-01", "yesterday", "", "2030-13-01T00:00:00+00:00"],
    ids=["naive", "date-only", "words", "empty", "month-13"],
)
def test_a_time_without_zone_or_not_a_time_is_an_invalid_token(value: str) -> None:
    """A naive time cannot be compared with a timestamptz column: it would fail in the database."""
    with pytest.raises(InvalidArgument) as refused:
        read_time(value)
    assert refused.value.message == "page_token is not valid"
