"""OpenTelemetry tracing configured only from the standard OTEL_* environment variables.

configure_tracing() installs the process's tracer provider; the gRPC interceptors (server_interceptors,
client_interceptors) and the database instrumentation (trace_engine) find it whenever it comes, so the
order in which a process builds its parts does not matter. Everything here is a no-op with tracing off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "UNTRACED_METHODS",
    "tracing_enabled",
    "configure_tracing",
    "tracing_configured",
    "server_interceptors",
    "client_interceptors",
    "trace_engine",
    "current_traceparent",
    "traceparent_of",
    "remote_parent",
    "relay",
]

# Calls that last as long as a node stays connected and carry its heartbeats: one span would hold hours
# of unrelated work. What they carry is traced on its own (dispatch, the node's relayed spans).
UNTRACED_METHODS = ("/convoy.agent.v1.AgentService/Connect",)

_W3C = TraceContextTextMapPropagator()
# The processor of the installed provider: relay() hands it spans measured elsewhere.
_processor: BatchSpanProcessor | None = None


def tracing_enabled() -> bool:
    """Tracing is on when an exporter endpoint or exporter is named and the SDK is not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    named = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"}
    return any(os.environ.get(name) for name in named) and os.environ.get("OTEL_TRACES_EXPORTER") != "none"


def configure_tracing(service: str) -> bool:
    """Installs an OTLP/gRPC exporting tracer provider (once per process); False when tracing is off."""
    global _processor
    if _processor is not None:
        return True
    if not tracing_enabled():
        return False
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    # Our default name only when the operator named none (OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES).
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = TracerProvider(
        resource=Resource.create({} if named else {"service.name": f"convoy-{service}"})
    )
    processor = BatchSpanProcessor(OTLPSpanExporter())
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _processor = processor
    return True


def tracing_configured() -> bool:
    """This process exports spans: configure_tracing() installed its provider. Without it the tracer is the
    no-op one, whose "spans" are their parent context passed through."""
    return _processor is not None


def server_interceptors() -> list[Any]:
    """For a grpc.aio server, first in its list: a server span per call, joined to the caller's trace by
    the call's traceparent metadata. Health checks and UNTRACED_METHODS get none."""
    if not tracing_enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    untraced = filters.any_of(
        filters.health_check(), *(filters.full_method_name(name) for name in UNTRACED_METHODS)
    )
    return [aio_server_interceptor(filter_=filters.negate(untraced))]


def client_interceptors() -> list[Any]:
    """For a grpc.aio channel: a client span per call made inside a traced operation, whose traceparent
    the call carries to the server."""
    if not tracing_enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors(tracer_provider=_WithinTraces()))


def trace_engine(engine: AsyncEngine) -> None:
    """A client span for every statement the engine runs inside a traced operation."""
    if not tracing_enabled():
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpUpDownCounter

    tracer = _WithinTraces().get_tracer("opentelemetry.instrumentation.sqlalchemy")
    # The pool's own metrics are Prometheus ones (docs/metrics.md), not the instrumentation's.
    EngineTracer(tracer, engine.sync_engine, NoOpUpDownCounter("db.client.connections.usage"))


def current_traceparent() -> str:
    """The W3C traceparent of the current span; "" outside a trace (always, with tracing off)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent", "")


def traceparent_of(span: trace.Span) -> str:
    """The W3C traceparent naming `span` as the parent; "" for a span that is not traced."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent", "")


def remote_parent(traceparent: str) -> trace.SpanContext | None:
    """The span a stored or received traceparent names; None when it is empty or malformed."""
    if not traceparent:
        return None
    found = trace.get_current_span(_W3C.extract({"traceparent": traceparent})).get_span_context()
    return found if found.is_valid else None


def relay(spans: Sequence[ReadableSpan]) -> None:
    """Exports finished spans another process measured (an agent, which reaches no collector) with this
    process's exporter; dropped with tracing off."""
    if _processor is None:
        return
    for span in spans:
        _processor.on_end(span)


class _WithinTraces(trace.TracerProvider):
    """Tracers that start spans only inside a traced operation: a statement or call made on a timer (a
    health probe, a polling loop, a key refresh) would otherwise be a trace of one span, many a minute."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        inner = trace.get_tracer(
            instrumenting_module_name,
            instrumenting_library_version,
            schema_url=schema_url,
            attributes=attributes,
        )
        return _ChildTracer(inner)


class _ChildTracer(trace.Tracer):
    """Defers to the process's tracer when the context has a span, else starts none."""

    def __init__(self, inner: trace.Tracer) -> None:
        self._inner = inner

    def start_span(
        self, name: str, context: otel_context.Context | None = None, *args: Any, **kwargs: Any
    ) -> trace.Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._inner.start_span(name, context, *args, **kwargs)

    @contextmanager
    def start_as_current_span(
        self, name: str, context: otel_context.Context | None = None, *args: Any, **kwargs: Any
    ) -> Iterator[trace.Span]:
        if not trace.get_current_span(context).get_span_context().is_valid:
            yield trace.INVALID_SPAN
            return
        with self._inner.start_as_current_span(name, context, *args, **kwargs) as span:
            yield span
