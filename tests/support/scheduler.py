"""A real scheduler (mTLS, port 0, its three ports) on a migrated database, and the fleet and packages its
tests deploy: servers with facts in a real inventory, packages in a real catalog."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.catalog.v1 import catalog_pb2_grpc as catalog_grpc
from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from convoy.inventory.v1 import inventory_pb2_grpc as inventory_grpc
from convoy.scheduler.v1 import scheduler_pb2_grpc as scheduler_grpc
from devstack.postgres import LocalPostgres
from services.scheduler.config import SchedulerSettings
from services.scheduler.models import SCHEMA
from services.scheduler.server import SchedulerProcess, build
from tests.support.catalog import MemoryTransfer
from tests.support.stack import AuthStack, ServiceStack, fresh_database, fresh_ip, service_settings
from tests.support.users import grpc_auth

__all__ = [
    "SchedulerStack",
    "scheduler_database",
    "scheduler_settings",
    "start_scheduler",
    "Fleet",
    "eventually",
]

T = TypeVar("T")
_FAMILIES = {"deb": inventory_pb.PACKAGE_FAMILY_DEB, "rpm": inventory_pb.PACKAGE_FAMILY_RPM, "": 0}
_FORMATS = {"deb": 1, "rpm": 2, "tar": 3, "container": 4}


async def scheduler_database(postgres: LocalPostgres) -> str:
    return await fresh_database(postgres, "scheduler", migrations=(("services.scheduler", SCHEMA),))


def scheduler_settings(database_url: str, auth: AuthStack, **overrides: Any) -> SchedulerSettings:
    values: dict[str, Any] = {
        "auth_target": auth.target,
        "agent_listen": "127.0.0.1:0",
        "enroll_listen": "127.0.0.1:0",
        "inventory_target": "127.0.0.1:1",
        "catalog_target": "127.0.0.1:1",
        "transfer_target": "127.0.0.1:1",
        "upstream_timeout_seconds": 5,
        "poll_seconds": 0.5,
    }
    return SchedulerSettings(**service_settings(database_url, auth.pki_dir, **{**values, **overrides}))


@dataclass
class SchedulerStack(ServiceStack):
    process: SchedulerProcess
    port: int
    settings: SchedulerSettings
    database_url: str
    # The agent port (mutual TLS, node certificates) and the enrollment port (server-only TLS).
    agent_port: int
    enroll_port: int

    @property
    def internal_port(self) -> int:
        return self.port

    @property
    def agent_target(self) -> str:
        return f"127.0.0.1:{self.agent_port}"

    @property
    def enroll_target(self) -> str:
        return f"127.0.0.1:{self.enroll_port}"

    @asynccontextmanager
    async def stub(self, name: str = "gateway") -> AsyncIterator[scheduler_grpc.SchedulerServiceStub]:
        """A stub on a channel presenting certificate `name` (with a token: acting for that user)."""
        async with self.channel(name) as channel:
            yield scheduler_grpc.SchedulerServiceStub(channel)


@asynccontextmanager
async def start_scheduler(
    postgres: LocalPostgres,
    auth: AuthStack,
    *,
    database_url: str | None = None,
    with_reconciler: bool = True,
    rollout_clock: Callable[[], datetime] | None = None,
    **overrides: Any,
) -> AsyncIterator[SchedulerStack]:
    """A real scheduler process on port 0 (a fresh database unless `database_url` is given, e.g. to run
    two schedulers on one database), serving once it has auth's token keys. `overrides` are settings
    (inventory_target, catalog_target, poll_seconds, log_tail_lines, …). `rollout_clock` is the time the
    rollout loop lives in (e.g. to move it into a maintenance window)."""
    url = database_url or await scheduler_database(postgres)
    settings = scheduler_settings(url, auth, **overrides)
    process = build(settings, with_reconciler=with_reconciler)
    if rollout_clock is not None:
        process.rollout.now = rollout_clock
    port = await process.start()
    try:
        await process.keys.wait_loaded(10)
        yield SchedulerStack(process, port, settings, url, process.agent_port, process.enroll_port)
    finally:
        await process.stop()


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15, what: str = "") -> T:
    """The first truthy answer of `probe`, asked every 50 ms; AssertionError(`what`) after `timeout`
    seconds (a probe still running then is cancelled)."""
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            while True:
                answer = await probe()
                if answer:
                    return answer
                await asyncio.sleep(0.05)
    except TimeoutError:
        if not deadline.expired():
            raise  # the probe's own
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what or 'the probe'}") from None


@dataclass
class Fleet:
    """Servers (with the facts an agent would report) and packages, made through the real services."""

    inventory: ServiceStack
    catalog: ServiceStack
    transfer: MemoryTransfer
    operator_token: str

    async def server(
        self,
        family: str = "deb",
        arch: str = "x86_64",
        *,
        hostname: str = "",
        group_ids: tuple[str, ...] = (),
    ) -> str:
        hostname = hostname or f"node-{uuid.uuid4().hex[:10]}"
        ip = fresh_ip()  # inventory refuses a second live server at an address
        async with self.inventory.channel("gateway") as channel:
            stub = inventory_grpc.InventoryServiceStub(channel)
            request = inventory_pb.CreateServerRequest(
                hostname=hostname,
                ip_address=ip,
                category=inventory_pb.CATEGORY_WEB,
                group_ids=list(group_ids),
            )
            server = (
                await stub.CreateServer(request, metadata=grpc_auth(self.operator_token), timeout=10)
            ).server
        if family or arch:
            async with self.inventory.channel("scheduler") as channel:
                facts = inventory_pb.RecordFactsRequest(
                    server_id=server.id,
                    hostname=hostname,
                    ip_address=ip,
                    os=inventory_pb.OsFacts(os_id="debian", package_family=_FAMILIES[family], arch=arch),
                )
                await inventory_grpc.InventoryServiceStub(channel).RecordFacts(facts, timeout=10)
        return server.id

    async def set_status(self, server_id: str, status: int = inventory_pb.SERVER_STATUS_ONLINE) -> None:
        """What the agent edge tells inventory when the node's stream opens (ONLINE) or goes."""
        async with self.inventory.channel("scheduler") as channel:
            request = inventory_pb.SetServerStatusRequest(server_id=server_id, status=status)
            request.time.GetCurrentTime()
            await inventory_grpc.InventoryServiceStub(channel).SetServerStatus(request, timeout=10)

    async def group(self, *server_ids: str) -> str:
        async with self.inventory.channel("gateway") as channel:
            stub = inventory_grpc.InventoryServiceStub(channel)
            auth = grpc_auth(self.operator_token)
            name = f"g{uuid.uuid4().hex[:12]}"
            group = (
                await stub.CreateGroup(inventory_pb.CreateGroupRequest(name=name), metadata=auth, timeout=10)
            ).group
            if server_ids:
                members = inventory_pb.AddGroupMembersRequest(group_id=group.id, server_ids=list(server_ids))
                await stub.AddGroupMembers(members, metadata=auth, timeout=10)
        return group.id

    async def installed(self, server_id: str, name: str, version: str) -> None:
        async with self.inventory.channel("scheduler") as channel:
            item = inventory_pb.InstalledSoftware(
                name=name, version=version, source=inventory_pb.INSTALLED_SOURCE_AGENT_REPORT
            )
            request = inventory_pb.RecordInstalledRequest(server_id=server_id, software=[item], merge=True)
            await inventory_grpc.InventoryServiceStub(channel).RecordInstalled(request, timeout=10)

    async def package(
        self, name: str, version: str, format: str = "deb", arch: str = "x86_64", **fields: Any
    ) -> catalog_pb.Package:
        sha256 = self.transfer.put()
        request = catalog_pb.CreatePackageRequest(
            software_name=name,
            version=version,
            format=_FORMATS[format],
            arch=arch,
            artifact_sha256=sha256,
            **fields,
        )
        async with self.catalog.channel("gateway") as channel:
            stub = catalog_grpc.CatalogServiceStub(channel)
            reply = await stub.CreatePackage(request, metadata=grpc_auth(self.operator_token), timeout=10)
        return reply.package

    async def get_package(self, package_id: str) -> catalog_pb.Package:
        async with self.catalog.channel("scheduler") as channel:
            stub = catalog_grpc.CatalogServiceStub(channel)
            return (await stub.GetPackage(catalog_pb.GetPackageRequest(id=package_id), timeout=10)).package
