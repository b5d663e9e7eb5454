"""Conversions between aware datetimes and google.protobuf.Timestamp, with None for an unset field."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.kit.errors import InvalidArgument

__all__ = ["to_timestamp", "from_timestamp"]


def to_timestamp(value: datetime | None, field: str = "time") -> Timestamp | None:
    """A naive datetime is taken as UTC. A time that is no instant between the years 1 and 9999 in UTC
    (0001-01-01T00:00:00+01:00 is in year 0 there) is the sender's mistake (InvalidArgument, naming
    `field`), never an OverflowError that would surface as an internal error."""
    if value is None:
        return None
    stamp = Timestamp()
    try:
        stamp.FromDatetime(value)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(
            f"{field} is outside the times that can be stored (years 1 to 9999 in UTC): {value.isoformat()}"
        ) from exc
    return stamp


def from_timestamp(message: Message, field: str) -> datetime | None:
    """The field as an aware UTC datetime, or None when the message does not set it; a value outside what
    a Timestamp may hold is the sender's mistake (InvalidArgument)."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(f"{field} is not a valid timestamp: {exc}") from exc
