"""SchedulerService's sync-policy and compliance RPCs: proto in, PolicyUseCases called, proto out."""

from __future__ import annotations

from typing import Any

__all__ = ["PolicyRpcs", "PolicyUseCases"]

PolicyUseCases = Any


class PolicyRpcs:
    """Mixed into SchedulerServicer, which sets `self.policies`."""

    policies: PolicyUseCases | None
