"""SchedulerService's schedule RPCs, and CreateDeployment with a schedule: proto in, ScheduleUseCases
called, proto out."""

from __future__ import annotations

from typing import Any

from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.errors import InvalidArgument

__all__ = ["ScheduleRpcs", "ScheduleUseCases"]

ScheduleUseCases = Any


class ScheduleRpcs:
    """Mixed into SchedulerServicer, which sets `self.schedules`."""

    schedules: ScheduleUseCases | None

    async def create_scheduled(self, draft: Any, schedule: pb.Schedule) -> pb.CreateDeploymentResponse:
        raise InvalidArgument("schedule is not supported yet; leave it unset to start now")
