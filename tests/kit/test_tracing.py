"""Tracing is configured by the standard OTEL_* variables alone, and log lines carry the trace id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from convoy.auth.v1 import auth_pb2, auth_pb2_grpc
from devstack.postgres import LocalPostgres
from services.kit.tls import open_channel
from tests.support.auth_process import running_auth, tls_files, wait_until_serving

pytestmark = pytest.mark.asyncio(loop_scope="session")

JWKS_METHOD = "/convoy.auth.v1.AuthService/GetJwks"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP receiver: what a collector would get from the service."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, str], object]] = []

    async def Export(self, request, context):  # noqa: N802 - the OTLP method name
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                self.spans += [(resource, span) for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, int]]:
    receiver = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield receiver, port
    await server.stop(0)


async def test_auth_exports_rpc_spans_and_logs_their_trace_id(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path, collector: tuple[Collector, int]
) -> None:
    receiver, port = collector
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    async with running_auth(postgres, pki_dir, tmp_path, **otel) as auth:
        async with open_channel(auth.target, tls_files(pki_dir, "gateway")) as channel:
            await wait_until_serving(auth, channel)
            await auth_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_pb2.GetJwksRequest(), timeout=5)
        span = await _wait_for_span(receiver, JWKS_METHOD)
        resource, exported = span
        assert resource["service.name"] == "convoy-auth"
        trace_id = exported.trace_id.hex()  # type: ignore[attr-defined]
        logged = [json.loads(line) for line in auth.output().splitlines() if JWKS_METHOD in line]
        assert any(entry["trace_id"] == trace_id for entry in logged), logged


async def _wait_for_span(
    receiver: Collector, name: str, timeout: float = 20.0
) -> tuple[dict[str, str], object]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for resource, span in receiver.spans:
            if span.name == name:  # type: ignore[attr-defined]
                return resource, span
        await asyncio.sleep(0.1)
    names = sorted({span.name for _, span in receiver.spans})  # type: ignore[attr-defined]
    raise AssertionError(f"no span named {name} within {timeout}s; got {names}")
