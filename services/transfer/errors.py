"""Errors of the transfer domain (mapped to gRPC codes by the kit's one table)."""

from __future__ import annotations

from services.kit.errors import InvalidArgument

__all__ = ["Rejected"]


class Rejected(InvalidArgument):
    """An upload refused for its content; `reason` is a short fixed code for metrics and logs."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
