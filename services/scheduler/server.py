"""Wires the scheduler process: runtime, upstream clients, use cases, the rollout loop, and the agent edge
with its two extra ports (agent: mutual TLS with node certificates; enrollment: server-only TLS)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from typing import Any

from convoy.scheduler.v1 import scheduler_pb2 as pb
from convoy.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from services.kit.logs import configure_logging
from services.kit.metrics import start_metrics_listener
from services.kit.runtime import ServiceRuntime
from services.kit.telemetry import configure_tracing
from services.scheduler import dispatch
from services.scheduler.config import SchedulerSettings
from services.scheduler.control import ControlUseCases
from services.scheduler.events import EVENTS_CHANNEL, ROLLOUT_CHANNEL
from services.scheduler.notify import Listener
from services.scheduler.queries import QueryUseCases
from services.scheduler.rollout import RolloutLoop
from services.scheduler.service import Core, CreateUseCase
from services.scheduler.servicer import SchedulerServicer
from services.scheduler.upstream import CatalogClient, InventoryClient
from services.scheduler.watch import WatchUseCase

__all__ = ["SchedulerProcess", "build", "serve", "process_owner"]

log = logging.getLogger("convoy.scheduler")


def process_owner() -> str:
    """Names this process in leases (unique even for two processes in one interpreter)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _agent_edge_type() -> Any:
    """The agent edge, when this build has it (the SchedulerService works without it)."""
    try:
        from services.scheduler.edge import AgentEdge
    except ImportError:
        return None
    return AgentEdge


class SchedulerProcess(ServiceRuntime):
    def __init__(self, settings: SchedulerSettings, *, with_edge: bool = True) -> None:
        super().__init__(settings)
        self.settings: SchedulerSettings = settings
        dispatch.configure(
            settings.log_head_lines,
            settings.log_tail_lines,
            task_deadline_seconds=settings.task_deadline_seconds,
            lease_seconds=settings.lease_seconds,
            install_grace_seconds=settings.install_grace_seconds,
        )
        timeout = settings.upstream_timeout_seconds
        self.catalog = CatalogClient(self.channel(settings.catalog_target), timeout=timeout)
        self.inventory_channel = self.channel(settings.inventory_target)
        self.inventory = InventoryClient(self.inventory_channel, timeout=timeout)
        self.listener = Listener(settings.require_database_url(), (ROLLOUT_CHANNEL, EVENTS_CHANNEL))
        self.owner = process_owner()
        self.core = Core(self.db, self.audit, self.catalog, self.inventory)
        self.rollout = RolloutLoop(self.db, settings, owner=self.owner, listener=self.listener)
        edge_type = _agent_edge_type() if with_edge else None
        self.edge = edge_type(self, settings, inventory=self.inventory_channel) if edge_type else None
        self.servicer = SchedulerServicer(
            CreateUseCase(self.core),
            QueryUseCases(self.core),
            ControlUseCases(self.core),
            WatchUseCase(self.core, self.listener, poll_seconds=settings.poll_seconds),
            revoker=self.edge,
        )
        self.server.add(
            pb_grpc.add_SchedulerServiceServicer_to_server,
            self.servicer,
            pb.DESCRIPTOR.services_by_name["SchedulerService"],
        )
        self.agent_port = self.enroll_port = 0
        if self.edge is not None:
            self.agent_port, self.enroll_port = self.edge.add_to(self.server)

    async def start(self) -> int:
        """Serves SchedulerService (and AgentService) on every port; the rollout starts at once."""
        self.run_in_background(self.listener.run())
        self.run_in_background(self.rollout.run())
        port = await super().start()
        if self.edge is not None:
            await self.edge.start()
        return port

    async def stop(self) -> None:
        """The agents are told to go first, while the server can still deliver that."""
        if self.edge is not None:
            await self.edge.stop()
        await super().stop()

    async def serve(self) -> None:
        """`python -m services.scheduler serve`: like every service, with the edge stopped before the server."""
        name = self.settings.service_name
        configure_logging(name, self.settings.log_level)
        configure_tracing(name)
        start_metrics_listener(self.settings.metrics_listen)
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stop requested: draining for %.1fs", self.settings.drain_seconds)
        await self.stop()
        log.info("stopped")


def build(settings: SchedulerSettings, *, with_edge: bool = True) -> SchedulerProcess:
    return SchedulerProcess(settings, with_edge=with_edge)


async def serve(settings: SchedulerSettings) -> None:
    await build(settings).serve()
