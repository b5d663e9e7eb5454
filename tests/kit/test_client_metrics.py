"""Every call made on a channel from open_channel is counted by its answer's code and timed: unary calls,
and streams by the status they ended with."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from services.kit.tls import open_channel, server_credentials
from tests.support.auth_process import tls_files

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICE = "grpc.health.v1.Health"
WAIT = 10.0


def handled(method: str, code: str) -> float:
    labels = {"service": SERVICE, "method": method, "code": code}
    return REGISTRY.get_sample_value("convoy_grpc_client_handled_total", labels) or 0.0


def timed(method: str) -> float:
    labels = {"service": SERVICE, "method": method}
    return REGISTRY.get_sample_value("convoy_grpc_client_handling_seconds_count", labels) or 0.0


async def until(condition, what: str) -> None:
    """Waits (bounded) for `condition()`: a call is recorded once the loop has read its final status."""
    try:
        async with asyncio.timeout(WAIT):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.fixture
async def health_target(pki_dir: Path) -> AsyncIterator[str]:
    """A real server over mutual TLS on port 0 with the library's health service: "" is SERVING, any other
    name is unknown (NOT_FOUND)."""
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(tls_files(pki_dir, "inventory")))
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


async def test_unary_calls_are_counted_by_code_and_timed(health_target: str, pki_dir: Path) -> None:
    ok, not_found, seconds = handled("Check", "OK"), handled("Check", "NOT_FOUND"), timed("Check")

    async with open_channel(health_target, tls_files(pki_dir, "gateway")) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=WAIT)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Check(health_pb2.HealthCheckRequest(service="convoy.nothing.v1.None"), timeout=WAIT)
        await until(lambda: timed("Check") >= seconds + 2, "both calls recorded")

    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert handled("Check", "OK") == ok + 1
    assert handled("Check", "NOT_FOUND") == not_found + 1


async def test_a_stream_is_counted_by_the_status_it_ended_with(health_target: str, pki_dir: Path) -> None:
    cancelled, seconds = handled("Watch", "CANCELLED"), timed("Watch")

    async with open_channel(health_target, tls_files(pki_dir, "gateway")) as channel:
        call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        first = await asyncio.wait_for(call.read(), WAIT)
        assert timed("Watch") == seconds  # still open: nothing recorded yet
        call.cancel()
        await until(lambda: timed("Watch") == seconds + 1, "the cancelled stream recorded")

    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert handled("Watch", "CANCELLED") == cancelled + 1


async def test_a_call_that_finds_no_server_is_counted_unavailable(pki_dir: Path) -> None:
    unavailable = handled("Check", "UNAVAILABLE")

    async with open_channel("127.0.0.1:1", tls_files(pki_dir, "gateway")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=WAIT)
        await until(lambda: handled("Check", "UNAVAILABLE") == unavailable + 1, "the failure recorded")

    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
