"""OpenTelemetry tracing configured only from the standard OTEL_* environment variables."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = ["tracing_enabled", "configure_tracing"]


def tracing_enabled() -> bool:
    """Tracing is on when an exporter endpoint or exporter is named and the SDK is not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    named = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"}
    return any(os.environ.get(name) for name in named) and os.environ.get("OTEL_TRACES_EXPORTER") != "none"


def configure_tracing(service: str) -> bool:
    """Installs an OTLP/gRPC exporting tracer provider and the gRPC server/client instrumentation."""
    if not tracing_enabled():
        return False
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcAioInstrumentorServer

    # Our default name only when the operator named none (OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES).
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = TracerProvider(
        resource=Resource.create({} if named else {"service.name": f"convoy-{service}"})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    GrpcAioInstrumentorServer().instrument()
    GrpcAioInstrumentorClient().instrument()
    return True
