"""Opaque page tokens and page-size limits shared by every List RPC."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from services.kit.errors import InvalidArgument

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "page_size", "encode_token", "decode_token", "parse_uuid"]

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500


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
    try:
        position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError as exc:
        raise InvalidArgument("page_token is not valid") from exc
    if not isinstance(position, dict) or any(name not in position for name in required):
        raise InvalidArgument("page_token is not valid")
    return position


def parse_uuid(value: str, what: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidArgument(f"{what} must be a UUID, got {value!r}") from exc
