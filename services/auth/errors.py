"""Errors of the auth domain (mapped to gRPC codes by the kit's one table)."""

from __future__ import annotations

from services.kit.errors import Unauthenticated

__all__ = ["BadCredentials", "InvalidRefreshToken"]


class BadCredentials(Unauthenticated):
    """The same answer for an unknown user, a wrong password and a disabled account."""

    def __init__(self) -> None:
        super().__init__("invalid username or password")


class InvalidRefreshToken(Unauthenticated):
    def __init__(self, detail: str = "refresh token is invalid or expired") -> None:
        super().__init__(detail)
