"""A server counts every call it completes by the status the caller saw: a call or stream the caller cancels
is CANCELLED, never OK; and every method it serves is exported at zero from the moment it starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from convoy.transfer.v1 import transfer_pb2_grpc as transfer_grpc
from services.kit.grpc_server import GrpcServer
from services.kit.metrics import GRPC_SERVER_HANDLED, GRPC_SERVER_SECONDS
from services.kit.settings import ServiceSettings
from services.kit.tls import open_channel
from tests.support.auth_process import tls_files

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEALTH = "grpc.health.v1.Health"
TRANSFER = transfer_pb.DESCRIPTOR.services_by_name["TransferService"]
WAIT = 10.0


def handled(service: str, method: str, code: str) -> float | None:
    labels = {"service": service, "method": method, "code": code}
    return REGISTRY.get_sample_value("convoy_grpc_server_handled_total", labels)


def timed(service: str, method: str) -> float | None:
    labels = {"service": service, "method": method}
    return REGISTRY.get_sample_value("convoy_grpc_server_handling_seconds_count", labels)


async def until(condition, what: str) -> None:
    try:
        async with asyncio.timeout(WAIT):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class StuckTransfer(transfer_grpc.TransferServiceServicer):
    """Stat never answers: the caller has to give up on it."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def Stat(self, request: transfer_pb.StatRequest, context: grpc.aio.ServicerContext) -> None:
        self.entered.set()
        await asyncio.Event().wait()


@dataclass(frozen=True)
class Served:
    server: GrpcServer
    transfer: StuckTransfer
    pki_dir: Path

    def channel(self) -> grpc.aio.Channel:
        return open_channel(f"127.0.0.1:{self.server.port}", tls_files(self.pki_dir, "gateway"))


@pytest.fixture
async def served(pki_dir: Path) -> AsyncIterator[Served]:
    """A real GrpcServer (our interceptor, the library health) over mutual TLS on port 0, serving the
    stuck transfer service. Its transfer series are dropped first: they must come from its start."""
    for method in TRANSFER.methods:
        for code in ("OK", "CANCELLED", "DEADLINE_EXCEEDED"):
            if handled(TRANSFER.full_name, method.name, code) is not None:
                GRPC_SERVER_HANDLED.remove(TRANSFER.full_name, method.name, code)
        if timed(TRANSFER.full_name, method.name) is not None:
            GRPC_SERVER_SECONDS.remove(TRANSFER.full_name, method.name)
    files = tls_files(pki_dir, "transfer")
    settings = ServiceSettings(
        env="prod",
        listen="127.0.0.1:0",
        tls_cert=files.cert,
        tls_key=files.key,
        tls_ca=files.ca,
        drain_seconds=0,
        shutdown_grace_seconds=1,
    )
    server = GrpcServer(settings)
    transfer = StuckTransfer()
    server.add(transfer_grpc.add_TransferServiceServicer_to_server, transfer, TRANSFER)
    await server.start()
    try:
        yield Served(server, transfer, pki_dir)
    finally:
        await server.stop()


async def test_every_method_served_is_exported_at_zero_from_the_start(served: Served) -> None:
    for method in TRANSFER.methods:
        assert handled(TRANSFER.full_name, method.name, "OK") == 0, method.name
        assert timed(TRANSFER.full_name, method.name) == 0, method.name
    for method in ("Check", "Watch"):
        assert handled(HEALTH, method, "OK") is not None


async def test_a_stream_the_caller_cancels_is_counted_cancelled(served: Served) -> None:
    ok, cancelled = handled(HEALTH, "Watch", "OK") or 0, handled(HEALTH, "Watch", "CANCELLED") or 0

    async with served.channel() as channel:
        call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        first = await asyncio.wait_for(call.read(), WAIT)
        call.cancel()
        await until(
            lambda: (handled(HEALTH, "Watch", "CANCELLED") or 0) == cancelled + 1, "the stream counted"
        )

    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert (handled(HEALTH, "Watch", "OK") or 0) == ok


async def test_a_call_the_caller_cancels_is_counted_cancelled(served: Served) -> None:
    async with served.channel() as channel:
        call = transfer_grpc.TransferServiceStub(channel).Stat(transfer_pb.StatRequest(sha256="0" * 64))
        # Cancelled only once the handler runs: a call cancelled before it reaches the server is not its.
        await asyncio.wait_for(served.transfer.entered.wait(), WAIT)
        call.cancel()
        await until(lambda: handled(TRANSFER.full_name, "Stat", "CANCELLED") == 1, "the call counted")

    assert handled(TRANSFER.full_name, "Stat", "OK") == 0
    assert timed(TRANSFER.full_name, "Stat") == 1


async def test_a_call_whose_deadline_passes_is_counted_deadline_exceeded(served: Served) -> None:
    async with served.channel() as channel:
        stub = transfer_grpc.TransferServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stub.Stat(transfer_pb.StatRequest(sha256="0" * 64), timeout=2.0)
        await until(lambda: handled(TRANSFER.full_name, "Stat", "DEADLINE_EXCEEDED") == 1, "the call counted")

    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert served.transfer.entered.is_set()
    assert handled(TRANSFER.full_name, "Stat", "CANCELLED") is None
