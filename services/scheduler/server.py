"""Wires the scheduler process: runtime, upstream clients, use cases, the rollout loop, and the agent edge
with its two servers of its own (agent port: mutual TLS with node certificates; enrollment port:
server-only TLS), apart from the internal port's SchedulerService (mutual TLS with the service CA)."""

from __future__ import annotations

import asyncio

from convoy.scheduler.v1 import scheduler_pb2 as pb
from convoy.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from services.kit.hints import RECONCILE_CHANNEL
from services.kit.runtime import ServiceRuntime
from services.scheduler import dispatch
from services.scheduler.config import SchedulerSettings
from services.scheduler.control import ControlUseCases
from services.scheduler.edge import AgentEdge
from services.scheduler.events import EVENTS_CHANNEL, ROLLOUT_CHANNEL
from services.scheduler.metrics import refresh_stats
from services.scheduler.notify import Listener
from services.scheduler.policies import PolicyUseCases
from services.scheduler.queries import QueryUseCases
from services.scheduler.reconciler import Reconciler
from services.scheduler.rollout import RolloutLoop
from services.scheduler.schedule_loop import ScheduleLoop
from services.scheduler.schedules import ScheduleUseCases
from services.scheduler.service import Core, CreateUseCase
from services.scheduler.servicer import SchedulerServicer
from services.scheduler.sessions import process_id
from services.scheduler.upstream import CatalogClient, InventoryClient
from services.scheduler.watch import WatchUseCase
from services.scheduler.windows import WindowBook

__all__ = ["SchedulerProcess", "build", "serve"]


class SchedulerProcess(ServiceRuntime):
    def __init__(self, settings: SchedulerSettings, *, with_reconciler: bool = True) -> None:
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
        # One LISTEN connection for the whole process: the rollout, watchers, reconciler and agent edge.
        channels = (ROLLOUT_CHANNEL, EVENTS_CHANNEL, RECONCILE_CHANNEL, *AgentEdge.CHANNELS)
        self.listener = Listener(settings.require_database_url(), tuple(dict.fromkeys(channels)))
        self.owner = process_id()
        self.core = Core(self.db, self.audit, self.catalog, self.inventory)
        self.windows = WindowBook(self.inventory.groups, refresh_seconds=settings.window_refresh_seconds)
        self.rollout = RolloutLoop(
            self.db, settings, owner=self.owner, listener=self.listener, windows=self.windows
        )
        self.creator = CreateUseCase(self.core)
        self.reconciler = Reconciler(self.core, self.creator, settings, listener=self.listener)
        self.schedule_loop = ScheduleLoop(self.core, self.creator, poll_seconds=settings.poll_seconds)
        self.with_reconciler = with_reconciler
        self.edge = AgentEdge(
            self, settings, inventory=self.inventory_channel, listener=self.listener, process=self.owner
        )
        self.servicer = SchedulerServicer(
            self.creator,
            QueryUseCases(self.core),
            ControlUseCases(self.core),
            WatchUseCase(self.core, self.listener, poll_seconds=settings.poll_seconds),
            revoker=self.edge,
            policies=PolicyUseCases(self.core),
            schedules=ScheduleUseCases(self.core, self.creator),
        )
        self.server.add(
            pb_grpc.add_SchedulerServiceServicer_to_server,
            self.servicer,
            pb.DESCRIPTOR.services_by_name["SchedulerService"],
        )

    @property
    def agent_port(self) -> int:
        """The agent port as bound (after start)."""
        return self.edge.agent_port

    @property
    def enroll_port(self) -> int:
        """The enrollment port as bound (after start)."""
        return self.edge.enroll_port

    async def start(self) -> int:
        """Serves SchedulerService on the internal port, then opens the edge's ports; the rollout starts at
        once. Returns the internal port."""
        self.run_in_background(self.listener.run())
        self.run_in_background(self.rollout.run())
        self.run_in_background(self.schedule_loop.run())
        self.run_in_background(refresh_stats(self.db, self.settings.stats_seconds))
        if self.with_reconciler:
            self.run_in_background(self.reconciler.run())
        port = await super().start()
        await self.edge.start()
        return port

    async def stop(self) -> None:
        """The edge tells its agents to go while their ports still deliver that and drains those ports
        alongside the internal one; the database and channels close once every port has stopped."""
        await asyncio.gather(self.edge.stop(), self.server.stop())
        await self.close()


def build(settings: SchedulerSettings, *, with_reconciler: bool = True) -> SchedulerProcess:
    """`with_reconciler=False`: policies are checked only when someone calls reconciler.tick() (tests that
    drive it with their own clock)."""
    return SchedulerProcess(settings, with_reconciler=with_reconciler)


async def serve(settings: SchedulerSettings) -> None:
    await build(settings).serve()
