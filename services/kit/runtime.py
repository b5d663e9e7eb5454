"""What every service process but auth is made of: database, channel to auth, token keys, audit, gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import grpc
from pydantic import Field

from services.kit.audit_client import AuditClient
from services.kit.db import Database
from services.kit.errors import Unavailable
from services.kit.grpc_server import GrpcServer, ListenPort, stop_signalled
from services.kit.logs import configure_logging
from services.kit.metrics import start_metrics_listener
from services.kit.settings import ServiceSettings
from services.kit.tls import open_channel
from services.kit.token_keys import TokenKeys

__all__ = ["AuthClientSettings", "ServiceRuntime"]

log = logging.getLogger("convoy.server")


class AuthClientSettings(ServiceSettings):
    """Settings of a service that verifies access tokens and writes audit records through auth."""

    auth_target: str = "127.0.0.1:50051"
    # Deadline of each call to auth (audit records, token keys) and of other calls between services.
    upstream_timeout_seconds: float = Field(5.0, gt=0)


class ServiceRuntime:
    """Owns the process-wide parts; a service adds its servicers to `server` and its own channels via
    `channel()`. Health says SERVING only while the database answers and auth's keys are loaded."""

    def __init__(self, settings: AuthClientSettings) -> None:
        self.settings = settings
        self.db = Database(settings.require_database_url(), pool_size=settings.db_pool_size)
        self._channels: list[grpc.aio.Channel] = []
        self.auth_channel = self.channel(settings.auth_target)
        self.keys = TokenKeys(self.auth_channel, timeout=settings.upstream_timeout_seconds)
        self.audit = AuditClient(self.auth_channel, timeout=settings.upstream_timeout_seconds)
        self.server = GrpcServer(settings, verifier=lambda: self.keys.verifier, probe=self._probe)
        self._tasks: list[asyncio.Task[None]] = []

    def port_server(self, listen: ListenPort) -> GrpcServer:
        """A server of its own for a port whose callers must not reach `server`'s services (the scheduler's
        agents): the same interceptor, token keys and health probe, no reflection. The caller starts and
        stops it."""
        return GrpcServer(
            self.settings,
            verifier=lambda: self.keys.verifier,
            probe=self._probe,
            listen=listen,
            serve_reflection=False,
        )

    def channel(self, target: str) -> grpc.aio.Channel:
        """An mTLS channel to another service, closed with the process."""
        channel = open_channel(target, self.settings.tls_files())
        self._channels.append(channel)
        return channel

    async def _probe(self) -> None:
        await self.db.ping()
        if self.keys.verifier is None:
            raise Unavailable("the token keys have not been loaded from auth yet")

    def run_in_background(self, job: Coroutine[Any, Any, None]) -> None:
        """A task for the life of the process, cancelled when it closes."""
        self._tasks.append(asyncio.create_task(job))

    async def start(self) -> int:
        """Serves at once (auth may come up later: the keys load in the background); returns the port."""
        self.run_in_background(self.keys.keep_loading())
        return await self.server.start()

    async def close(self) -> None:
        """Releases what outlives the gRPC server: background tasks, the channels, the database."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for channel in self._channels:
            await channel.close()
        await self.db.close()

    async def stop(self) -> None:
        """Drains and stops the server, then closes the rest; a service with servers of its own
        (port_server) overrides this, stops them alongside `server`, and calls close() last."""
        await self.server.stop()
        await self.close()

    async def serve(self) -> None:
        """`python -m services.<name> serve` (traces were configured before the process was built): logs,
        metrics, then run until SIGTERM or SIGINT, and stop()."""
        name = self.settings.service_name
        configure_logging(name, self.settings.log_level)
        start_metrics_listener(self.settings.metrics_listen)
        await self.start()
        await stop_signalled()
        log.info("stop requested: draining for %.1fs", self.settings.drain_seconds)
        await self.stop()
        log.info("stopped")
