"""Opaque page tokens and page-size limits shared by every List RPC."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from services.kit.errors import InvalidArgument

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "MAX_TOKEN_CHARS",
    "page_size",
    "encode_token",
    "decode_token",
    "scope",
    "write_token",
    "read_token",
    "read_time",
    "parse_uuid",
]

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
# The longest cursor any listing writes (a few names of a few hundred characters) stays well below this.
MAX_TOKEN_CHARS = 4096
_INVALID = "page_token is not valid"


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(position: dict[str, Any]) -> str:
    """A cursor the client passes back unchanged; it is not a secret, only opaque."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, *required: str) -> dict[str, Any] | None:
    if not token:
        return None
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidArgument(_INVALID)
    try:
        position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, RecursionError) as exc:  # a made-up token may nest deeper than json allows
        raise InvalidArgument(_INVALID) from exc
    if not isinstance(position, dict) or any(name not in position for name in required):
        raise InvalidArgument(_INVALID)
    return position


def scope(*filters: object) -> str:
    """A short fingerprint of a listing and its filters, so that a token works only where it was issued."""
    text = json.dumps(filters, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_token(where: str, **position: str) -> str:
    """A cursor of string fields for the listing `where` (a `scope()`)."""
    return encode_token({"f": where, **position})


def read_token(token: str, where: str, *fields: str) -> dict[str, str] | None:
    """The string fields of the cursor, None for no token; InvalidArgument for anything a client made up
    or a token of another listing or of other filters."""
    position = decode_token(token, "f", *fields)
    if position is None:
        return None
    if position["f"] != where:
        raise InvalidArgument("page_token was issued for other filters; list again without it")
    return {name: _text(position[name]) for name in fields}


def _text(value: Any) -> str:
    # PostgreSQL text cannot hold NUL, so such a cursor could only fail in the database.
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidArgument(_INVALID)
    return value


def read_time(value: str) -> datetime:
    """A cursor's timestamp (written with `isoformat()` of an aware datetime). One without a zone
    cannot be compared with a timestamptz column, so it is refused like any made-up token."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidArgument(_INVALID) from exc
    if moment.tzinfo is None:
        raise InvalidArgument(_INVALID)
    return moment


def parse_uuid(value: str, what: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidArgument(f"{what} must be a UUID, got {value!r}") from exc
