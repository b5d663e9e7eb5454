"""Domain error hierarchy shared by every service; free of gRPC and HTTP so use cases stay transport-neutral."""

from __future__ import annotations

__all__ = [
    "DomainError",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "FailedPrecondition",
    "OutOfRange",
    "Unauthenticated",
    "PermissionDenied",
    "ResourceExhausted",
    "Unavailable",
]


class DomainError(Exception):
    """An expected failure whose message is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """The request itself is wrong: fixing the request fixes the call."""


class NotFound(DomainError):
    """The named resource does not exist (or the caller may not know that it does)."""


class AlreadyExists(DomainError):
    """A resource with the same unique key exists."""


class Conflict(DomainError):
    """A concurrent change won; retrying the whole operation may succeed."""


class FailedPrecondition(DomainError):
    """The system is not in the state the operation needs (e.g. still referenced)."""


class OutOfRange(InvalidArgument):
    """A position or offset past the end of what exists (e.g. resuming beyond a blob's size)."""


class Unauthenticated(DomainError):
    """The caller's credentials are missing, invalid or expired."""


class PermissionDenied(DomainError):
    """The caller is known but its role does not allow the operation."""


class ResourceExhausted(DomainError):
    """Too many attempts; the caller may retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency is down; retrying later may succeed."""
