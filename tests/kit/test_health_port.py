"""The plaintext health port: the process's health and nothing else, drain included, and its check command."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.kit import healthcheck
from services.kit.errors import Unavailable
from services.kit.grpc_server import GrpcServer, ListenPort
from services.kit.settings import ServiceSettings, TlsFiles
from services.kit.tls import open_channel
from tests.support.auth_process import running_auth, tls_files, wait_until_serving

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
WAIT_SECONDS = 20.0


def settings(pki_dir: Path, **values: object) -> ServiceSettings:
    given: dict[str, object] = {
        "env": "prod",
        "listen": "127.0.0.1:0",
        "health_listen": "127.0.0.1:0",
        "tls_cert": pki_dir / "auth.pem",
        "tls_key": pki_dir / "auth-key.pem",
        "tls_ca": pki_dir / "ca.pem",
    }
    return ServiceSettings(**{**given, **values})


class Dependency:
    """A probe whose answer the test decides."""

    def __init__(self) -> None:
        self.up = False

    async def __call__(self) -> None:
        if not self.up:
            raise Unavailable("the dependency is down")


@asynccontextmanager
async def running(server: GrpcServer) -> AsyncIterator[GrpcServer]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def status(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        reply = await health_pb2_grpc.HealthStub(channel).Check(request, timeout=5)
    return int(reply.status)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not await check():
        assert loop.time() < deadline, f"{what} did not happen within {WAIT_SECONDS}s"
        await asyncio.sleep(0.05)


async def reflection_names(channel: grpc.aio.Channel) -> list[str]:
    call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(timeout=5)
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    reply = await call.read()
    await call.done_writing()
    return [service.name for service in reply.list_services_response.service]


async def test_the_health_port_follows_the_dependency_probe(pki_dir: Path) -> None:
    dependency = Dependency()
    server = GrpcServer(settings(pki_dir, probe_interval_seconds=0.1), probe=dependency)
    async with running(server):
        assert server.health_port not in (0, server.port)
        assert await status(server.health_port) == NOT_SERVING
        # Liveness asks for the health service itself, which a dependency outage does not take down.
        assert await status(server.health_port, health.SERVICE_NAME) == SERVING
        dependency.up = True
        await eventually(lambda: _is(server.health_port, SERVING), "SERVING after the dependency came up")


async def test_the_health_port_says_not_serving_as_soon_as_stop_begins(pki_dir: Path) -> None:
    server = GrpcServer(settings(pki_dir, drain_seconds=3.0))
    await server.start()
    assert await status(server.health_port) == SERVING
    stopping = asyncio.create_task(server.stop())
    try:
        await eventually(lambda: _is(server.health_port, NOT_SERVING), "NOT_SERVING during the drain")
        assert await status(server.health_port, health.SERVICE_NAME) == NOT_SERVING
    finally:
        await stopping
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await status(server.health_port)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_the_health_port_serves_nothing_but_health(pki_dir: Path) -> None:
    async with running(GrpcServer(settings(pki_dir))) as server:
        client = TlsFiles(pki_dir / "gateway.pem", pki_dir / "gateway-key.pem", pki_dir / "ca.pem")
        async with open_channel(f"127.0.0.1:{server.port}", client) as channel:
            assert health.SERVICE_NAME in await reflection_names(channel)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.health_port}") as plain:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await reflection_names(plain)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_the_main_port_still_demands_mutual_tls(pki_dir: Path) -> None:
    async with running(GrpcServer(settings(pki_dir))) as server:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await status(server.port)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_no_health_port_unless_asked_and_none_on_extra_ports(pki_dir: Path) -> None:
    async with running(GrpcServer(settings(pki_dir, health_listen=""))) as server:
        assert server.health_port == 0
    extra = GrpcServer(settings(pki_dir), listen=ListenPort("127.0.0.1:0", None), serve_reflection=False)
    async with running(extra):
        assert extra.health_port == 0


async def test_the_check_command_exits_zero_only_when_serving(
    pki_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dependency = Dependency()
    server = GrpcServer(settings(pki_dir, probe_interval_seconds=0.1), probe=dependency)
    async with running(server):
        target = f"127.0.0.1:{server.health_port}"
        assert await asyncio.to_thread(healthcheck.main, [target]) == 1
        assert f"the process at {target} is NOT_SERVING" in capsys.readouterr().err
        liveness = [target, "--service", health.SERVICE_NAME]
        assert await asyncio.to_thread(healthcheck.main, liveness) == 0
        assert await asyncio.to_thread(healthcheck.main, [target, "--service", "no.such.Service"]) == 1
        assert "reports no health for service 'no.such.Service'" in capsys.readouterr().err
        dependency.up = True
        await eventually(lambda: _is(server.health_port, SERVING), "SERVING")
        assert await asyncio.to_thread(healthcheck.main, [target]) == 0
        assert f"{target}: serving" in capsys.readouterr().out


async def test_the_auth_process_serves_a_health_port_when_configured(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    # auth wires its server itself: the setting must reach it through its own prefix too.
    target = f"127.0.0.1:{free_port()}"
    async with running_auth(postgres, pki_dir, tmp_path, CONVOY_AUTH_HEALTH_LISTEN=target) as auth:
        async with open_channel(auth.target, tls_files(pki_dir, "gateway")) as channel:
            await wait_until_serving(auth, channel)
        assert await asyncio.to_thread(healthcheck.main, [target]) == 0


def test_the_check_command_explains_an_unreachable_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main(["127.0.0.1:1", "--timeout", "2"]) == 1
    assert "cannot reach 127.0.0.1:1" in capsys.readouterr().err


class _Probes(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the name http.server calls
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # no access log in the test output
        pass


def test_the_check_command_asks_http_urls_for_a_2xx(capsys: pytest.CaptureFixture[str]) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Probes) as web:
        thread = threading.Thread(target=web.serve_forever, daemon=True)
        thread.start()
        try:
            base = f"http://127.0.0.1:{web.server_address[1]}"
            assert healthcheck.main([f"{base}/healthz"]) == 0
            assert healthcheck.main([f"{base}/readyz"]) == 1
            assert f"{base}/readyz answered HTTP 503" in capsys.readouterr().err
        finally:
            web.shutdown()
            thread.join(timeout=10)


@pytest.mark.parametrize("argv", [["no-port"], ["host:http"], ["127.0.0.1:1", "--timeout", "0"]])
def test_the_check_command_refuses_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        healthcheck.main(argv)
    assert exited.value.code == 2


async def _is(port: int, wanted: int) -> bool:
    return await status(port) == wanted
