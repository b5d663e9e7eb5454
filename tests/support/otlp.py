"""An in-process OTLP trace receiver on a real gRPC port: what a collector would get from the processes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

__all__ = ["CollectedSpan", "Collector", "running_collector"]

SERVER = trace_pb2.Span.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT


@dataclass(frozen=True)
class CollectedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    # "" for a root span.
    parent_span_id: str
    attributes: dict[str, Any]
    failed: bool

    def __str__(self) -> str:
        parent = self.parent_span_id or "root"
        return f"{self.service}: {self.name} [{self.span_id} <- {parent}]"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every span exported to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[CollectedSpan] = []

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the OTLP method name
        received = [
            _collected(resource_spans.resource, span)
            for resource_spans in request.resource_spans
            for scope in resource_spans.scope_spans
            for span in scope.spans
        ]
        with self._lock:
            self._spans += received
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[CollectedSpan]:
        with self._lock:
            return list(self._spans)

    def trace(self, trace_id: str) -> list[CollectedSpan]:
        return [span for span in self.spans() if span.trace_id == trace_id]


@contextlib.contextmanager
def running_collector() -> Iterator[tuple[Collector, str]]:
    """A collector on a port of its own on loopback; (collector, its OTLP endpoint URL)."""
    collector = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield collector, f"http://127.0.0.1:{port}"
    finally:
        server.stop(0).wait()


def _collected(resource: Any, span: trace_pb2.Span) -> CollectedSpan:
    return CollectedSpan(
        service=str(_values(resource.attributes).get("service.name", "")),
        name=span.name,
        kind=span.kind,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        attributes=_values(span.attributes),
        failed=span.status.code == trace_pb2.Status.STATUS_CODE_ERROR,
    )


def _values(attributes: list[common_pb2.KeyValue]) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in attributes}


def _value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return (
        getattr(value, kind) if kind in ("string_value", "int_value", "bool_value", "double_value") else None
    )
