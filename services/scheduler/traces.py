"""A deployment's trace past its creating request: each target's dispatch, and the phases its node timed.

The rollout dispatches targets long after CreateDeployment answered, so the request's traceparent is kept
on the deployment and each dispatch span is its child. The dispatch span's own traceparent is kept on the
target and goes to the node in the assignment. Nodes run no tracing library and reach no collector: the
agent times its phases itself and sends them in its result, and the scheduler exports them here, as
children of the dispatch span, under the service name convoy-agent.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from convoy.agent.v1 import agent_pb2 as agent_pb
from services.kit.telemetry import relay, remote_parent, traceparent_of, tracing_configured
from services.scheduler.models import Deployment, Target

__all__ = ["AGENT_SERVICE", "dispatched", "agent_spans", "relay_agent_spans"]

log = logging.getLogger("convoy.scheduler.traces")

AGENT_SERVICE = "convoy-agent"
# What one result may add to a trace: a node's word, so bounded like its log.
_MAX_SPANS = 16
_MAX_ATTRIBUTES = 16
_MAX_VALUE_CHARS = 256
_MAX_ERROR_CHARS = 512
_NAME = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_SCOPE = InstrumentationScope("convoy.agent")
_IDS = RandomIdGenerator()

_tracer = trace.get_tracer("convoy.scheduler")


def dispatched(deployment: Deployment, target: Target) -> str:
    """Records that the rollout assigned the target (a span under the request that created the
    deployment, or a trace of its own); the span's traceparent, "" when not traced. With tracing off here
    the answer is "" even for a deployment created while it was on: the no-op tracer would hand back the
    stored parent, and the node would time its phases for a trace nobody exports."""
    if not tracing_configured():
        return ""
    parent = remote_parent(deployment.traceparent)
    context = (
        trace.set_span_in_context(trace.NonRecordingSpan(parent), otel_context.Context())
        if parent is not None
        else otel_context.Context()
    )
    attributes: dict[str, AttributeValue] = {
        "convoy.deployment.id": str(deployment.id),
        "convoy.server.id": str(target.server_id),
        "convoy.assignment.id": str(target.assignment_id),
        "convoy.attempt": target.attempt,
        "convoy.action": target.action,
        "convoy.package.name": target.name,
    }
    with _tracer.start_as_current_span(
        "dispatch", context=context, kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        return traceparent_of(span)


def relay_agent_spans(traceparent: str, records: Sequence[agent_pb.TaskSpan], node_id: str) -> int:
    """Exports the phases a node timed as children of the dispatch span `traceparent`; how many."""
    spans = agent_spans(traceparent, records, node_id)
    relay(spans)
    return len(spans)


def agent_spans(traceparent: str, records: Sequence[agent_pb.TaskSpan], node_id: str) -> list[ReadableSpan]:
    """The node's records as finished spans under `traceparent`. What cannot be a span (a bad name, no
    start time) is dropped with a log line: the result itself still counts."""
    parent = remote_parent(traceparent)
    if parent is None or not records:
        return []
    if len(records) > _MAX_SPANS:
        log.info("node %s sent %d spans; keeping the first %d", node_id, len(records), _MAX_SPANS)
    resource = _agent_resource().merge(Resource({"service.instance.id": node_id}))
    # The parent's id first: a node's span that reused it would be its own parent.
    seen = {parent.span_id}
    spans = []
    for record in records[:_MAX_SPANS]:
        span = _span(record, parent, resource, seen)
        if span is None:
            log.info(
                "dropping a span of node %s: name %r, start %d",
                node_id,
                record.name[:64],
                record.start_time_unix_nano,
            )
        else:
            spans.append(span)
    return spans


@functools.cache
def _agent_resource() -> Resource:
    """What every node's spans share, built once: Resource.create runs the resource detectors (the
    operator's OTEL_RESOURCE_ATTRIBUTES, and any OTEL_EXPERIMENTAL_RESOURCE_DETECTORS names, which may
    block or reach the network), far too slow for each result on the event loop."""
    return Resource.create({"service.name": AGENT_SERVICE})


def _span(
    record: agent_pb.TaskSpan, parent: SpanContext, resource: Resource, seen: set[int]
) -> ReadableSpan | None:
    if not _NAME.fullmatch(record.name) or not record.start_time_unix_nano:
        return None
    context = SpanContext(
        parent.trace_id, _span_id(record.span_id, seen), is_remote=False, trace_flags=parent.trace_flags
    )
    status = (
        Status(StatusCode.ERROR, record.error[:_MAX_ERROR_CHARS])
        if record.failed
        else Status(StatusCode.UNSET)
    )
    return ReadableSpan(
        name=record.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_attributes(record.attributes),
        kind=SpanKind.INTERNAL,
        status=status,
        start_time=record.start_time_unix_nano,
        end_time=max(record.end_time_unix_nano, record.start_time_unix_nano),
        instrumentation_scope=_SCOPE,
    )


def _span_id(given: str, seen: set[int]) -> int:
    """The node's own id for the span (its calls to transfer carry it), unless malformed, zero, or taken
    already in this trace (the dispatch span's, or another span's of the result): then a fresh one."""
    chosen = int(given, 16) if _SPAN_ID.fullmatch(given) else 0
    while not chosen or chosen in seen:
        chosen = _IDS.generate_span_id()
    seen.add(chosen)
    return chosen


def _attributes(given: Sequence[agent_pb.SpanAttribute]) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {}
    for item in given[:_MAX_ATTRIBUTES]:
        if not _NAME.fullmatch(item.key):
            continue
        kind = item.WhichOneof("value")
        if kind == "string_value":
            attributes[item.key] = item.string_value[:_MAX_VALUE_CHARS]
        elif kind == "int_value":
            attributes[item.key] = item.int_value
    return attributes
