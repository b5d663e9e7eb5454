"""How every service process serves gRPC: interceptors, library health, reflection, mTLS, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.kit.interceptors import BearerVerifier, CallInterceptor
from services.kit.metrics import precreate_server_series
from services.kit.settings import ServiceSettings
from services.kit.telemetry import server_interceptors
from services.kit.tls import SERVER_OPTIONS, NodeCa, server_credentials

__all__ = ["GrpcServer", "ListenPort", "stop_signalled"]

log = logging.getLogger("convoy.server")


@dataclass(frozen=True)
class ListenPort:
    """Where a server listens instead of the process's `listen` port, with credentials of its own (None:
    plaintext, for dev stacks without a PKI only)."""

    address: str
    credentials: grpc.ServerCredentials | None


class GrpcServer:
    """A grpc.aio server with our interceptor, the library health servicer and reflection.

    By default it listens on `settings.listen` with the service CA's mutual TLS. A process serves callers
    that must not reach its services there (agents) from another GrpcServer on a `ListenPort`, usually
    without reflection: reflection answers with every descriptor the process has loaded.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        verifier: Callable[[], BearerVerifier | None] = lambda: None,
        probe: Callable[[], Awaitable[None]] | None = None,
        listen: ListenPort | None = None,
        serve_reflection: bool = True,
    ):
        self.settings = settings
        self._listen = listen
        # Checked every probe_interval_seconds: while it fails, health says NOT_SERVING (e.g. database down).
        self._probe = probe
        self._probe_task: asyncio.Task[None] | None = None
        self.health = health.aio.HealthServicer()
        self._interceptor = CallInterceptor(verifier)
        # Tracing first: our interceptor's log lines then carry the call's trace id.
        interceptors = [*server_interceptors(), self._interceptor]
        self.server = grpc.aio.server(interceptors=interceptors, options=list(SERVER_OPTIONS))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        # Health answers for every name served; for ours (_services) it follows the probe.
        self._names: list[str] = [health.SERVICE_NAME]
        if serve_reflection:
            self._names.append(reflection.SERVICE_NAME)
        self._services: list[str] = []
        self._node_ca: NodeCa | None = None
        self.port = 0
        # The plaintext health-only port (settings.health_listen) of the process's own server.
        self._health_server: grpc.aio.Server | None = None
        self.health_port = 0

    def add(
        self, add_to_server: Callable[[Any, grpc.aio.Server], None], servicer: Any, service: ServiceDescriptor
    ) -> None:
        add_to_server(servicer, self.server)
        self._services.append(service.full_name)

    def recognise_nodes(self, node_ca: NodeCa) -> None:
        """Callers whose certificate `node_ca` issued are agents, every other certificate is a service's;
        call before start() when a port of this server trusts the node CA."""
        self._interceptor.recognise_nodes(node_ca)

    def accept_nodes(self, node_ca: NodeCa) -> None:
        """The listen port accepts node certificates next to services' (where agents call too), and callers
        showing one are agents; call before start()."""
        self.recognise_nodes(node_ca)
        self._node_ca = node_ca

    def add_port(self, address: str, credentials: grpc.ServerCredentials | None) -> int:
        """Binds one more port to the same servicers (call before start()); the bound port.

        Each port has its own credentials, e.g. one that accepts only node certificates. None serves
        plaintext, for dev stacks without a PKI only.
        """
        if credentials is None:
            log.warning("no TLS credentials for %s: serving plaintext (dev mode only)", address)
        return _bind_port(self.server, address, credentials)

    async def start(self) -> int:
        if reflection.SERVICE_NAME in self._names:
            reflection.enable_server_reflection([*self._names, *self._services], self.server)
        self.port = self._bind()
        self.health_port = self._bind_health()
        precreate_server_series([*self._names, *self._services])
        await self.server.start()
        # With dependencies to check, SERVING waits for the first good probe (moments after start).
        initial = (
            health_pb2.HealthCheckResponse.SERVING
            if self._probe is None
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        # The health and reflection services answer at once (a liveness check asks for the former); the
        # process as a whole ("") and its own services follow the probe.
        for name in self._names:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        for name in ["", *self._services]:
            await self.health.set(name, initial)
        if self._health_server is not None:
            await self._health_server.start()
            log.info("serving health checks in plaintext on port %d", self.health_port)
        if self._probe is not None:
            self._probe_task = asyncio.create_task(self._watch_dependencies(self._probe))
        log.info("serving %s on port %d", ", ".join(self._services), self.port)
        return self.port

    async def _watch_dependencies(self, probe: Callable[[], Awaitable[None]]) -> None:
        serving: bool | None = None
        interval = self.settings.probe_interval_seconds
        while True:
            try:
                await asyncio.wait_for(probe(), timeout=interval)
                healthy = True
            except Exception as exc:  # noqa: BLE001 - any failure of a dependency means not ready
                healthy = False
                if serving:
                    log.warning("dependency check failed, reporting NOT_SERVING: %s", exc)
                elif serving is None:
                    log.info("not ready yet: %s", exc)
            if healthy != serving:
                serving = healthy
                await self._set_status(
                    health_pb2.HealthCheckResponse.SERVING
                    if healthy
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )
                if healthy:
                    log.info("dependencies answer, reporting SERVING")
            # While not serving, look again soon: a dependency that comes back should be noticed quickly.
            await asyncio.sleep(interval if serving else min(interval, 0.5))

    async def _set_status(self, status: int) -> None:
        # The library ignores this once graceful shutdown has begun, so a drain is never undone.
        for name in ["", *self._services]:
            await self.health.set(name, status)

    def _bind(self) -> int:
        if self._listen is not None:
            return self.add_port(self._listen.address, self._listen.credentials)
        address, files = self.settings.listen, self.settings.tls_files()
        if files is None:
            return self.add_port(address, None)
        roots = None
        if self._node_ca is not None:
            roots = files.ca.read_bytes().rstrip(b"\n") + b"\n" + self._node_ca.pem
        return self.add_port(address, server_credentials(files, client_roots=roots))

    def _bind_health(self) -> int:
        """Health only, in plaintext: probes that cannot do mutual TLS (the kubelet's) reach nothing else. A
        server on a ListenPort has none: one health port per process is enough."""
        address = self.settings.health_listen
        if not address or self._listen is not None:
            return 0
        server = grpc.aio.server()
        # The same servicer: a drain or a failing dependency shows here too.
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        port = _bind_port(server, address, None)
        self._health_server = server
        return port

    async def stop(self) -> None:
        """NOT_SERVING first so balancers stop routing, then let in-flight calls finish."""
        if self._probe_task is not None:
            self._probe_task.cancel()
        await self.health.enter_graceful_shutdown()
        await asyncio.sleep(self.settings.drain_seconds)
        await self.server.stop(self.settings.shutdown_grace_seconds)
        if self._health_server is not None:
            await self._health_server.stop(None)

    async def run_until_signalled(self, on_stopped: Callable[[], Awaitable[None]] | None = None) -> None:
        await stop_signalled()
        log.info("stop requested: draining for %.1fs", self.settings.drain_seconds)
        await self.stop()
        if on_stopped is not None:
            await on_stopped()
        log.info("stopped")


def _bind_port(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {address}: {exc}") from exc
    if not port:
        raise OSError(f"cannot listen on {address}")
    return port


async def stop_signalled() -> None:
    """Returns on the first SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
