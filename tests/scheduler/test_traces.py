"""The phases a node timed become spans under the attempt's dispatch span; what a node sends cannot make
them anything else (another trace, unbounded attributes, spans without a start)."""

from __future__ import annotations

import uuid

from opentelemetry.trace import SpanKind, StatusCode

from convoy.agent.v1 import agent_pb2 as agent_pb
from services.scheduler.models import Deployment, Target
from services.scheduler.traces import AGENT_SERVICE, agent_spans, dispatched

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
DISPATCH_SPAN = 0x00F067AA0BA902B7
DISPATCH = f"00-{TRACE_ID:032x}-{DISPATCH_SPAN:016x}-01"
NODE = "6f1c1e9e-8c54-4c3e-9d57-1d8c2d3a4b5c"
START = 1_700_000_000_000_000_000


def record(name: str = "download", **fields: object) -> agent_pb.TaskSpan:
    values: dict[str, object] = {
        "name": name,
        "span_id": "a1b2c3d4e5f60718",
        "start_time_unix_nano": START,
        "end_time_unix_nano": START + 5_000_000,
    }
    return agent_pb.TaskSpan(**{**values, **fields})


def test_a_record_becomes_a_child_of_the_dispatch_span_under_the_agents_name() -> None:
    given = record(attributes=[agent_pb.SpanAttribute(key="convoy.package.bytes", int_value=42)])

    (span,) = agent_spans(DISPATCH, [given], NODE)

    assert span.name == "download" and span.kind == SpanKind.INTERNAL
    assert span.context.trace_id == TRACE_ID and span.context.span_id == 0xA1B2C3D4E5F60718
    assert span.parent is not None and span.parent.span_id == DISPATCH_SPAN
    assert span.context.trace_flags.sampled
    assert (span.start_time, span.end_time) == (START, START + 5_000_000)
    assert span.resource.attributes["service.name"] == AGENT_SERVICE
    assert span.resource.attributes["service.instance.id"] == NODE
    assert dict(span.attributes or {}) == {"convoy.package.bytes": 42}
    assert span.status.status_code == StatusCode.UNSET


def test_a_failed_phase_is_an_error_span() -> None:
    (span,) = agent_spans(DISPATCH, [record("install", failed=True, error="dpkg said no")], NODE)

    assert span.status.status_code == StatusCode.ERROR and span.status.description == "dpkg said no"


def test_nothing_is_exported_without_a_dispatch_span() -> None:
    assert agent_spans("", [record()], NODE) == []
    assert agent_spans("00-garbage", [record()], NODE) == []


def test_what_cannot_be_a_span_is_dropped_or_repaired() -> None:
    attributes = [agent_pb.SpanAttribute(key=f"k{n}", string_value="v" * 1000) for n in range(40)]
    records = [
        record("Bad Name"),
        record(start_time_unix_nano=0),
        record(span_id="not-hex", end_time_unix_nano=START - 1, attributes=attributes),
    ]

    (span,) = agent_spans(DISPATCH, records, NODE)

    assert span.context.span_id not in (0, DISPATCH_SPAN) and span.context.trace_id == TRACE_ID
    assert span.end_time == span.start_time == START
    assert len(span.attributes or {}) == 16 and all(
        len(str(v)) == 256 for v in (span.attributes or {}).values()
    )


def test_a_result_adds_a_bounded_number_of_spans() -> None:
    assert len(agent_spans(DISPATCH, [record() for _ in range(100)], NODE)) == 16


def test_span_ids_a_node_reuses_are_replaced() -> None:
    records = [
        record("download", span_id=f"{DISPATCH_SPAN:016x}"),  # would be its own parent
        record("verify", span_id="a1b2c3d4e5f60718"),
        record("install", span_id="a1b2c3d4e5f60718"),  # the span before has it
        record("health", span_id="0000000000000000"),
    ]

    spans = agent_spans(DISPATCH, records, NODE)

    ids = [span.context.span_id for span in spans]
    assert [span.name for span in spans] == ["download", "verify", "install", "health"]
    assert ids[1] == 0xA1B2C3D4E5F60718  # the first holder keeps it: transfer's spans name it
    assert len(set(ids)) == 4 and DISPATCH_SPAN not in ids and 0 not in ids
    assert all(span.parent is not None and span.parent.span_id == DISPATCH_SPAN for span in spans)


def test_every_node_has_its_own_instance_under_the_agents_name() -> None:
    other = "0b7d2c61-5d1e-4f0a-8a43-3f2f1d6c9e11"

    (first,) = agent_spans(DISPATCH, [record()], NODE)
    (second,) = agent_spans(DISPATCH, [record()], other)

    assert first.resource.attributes["service.instance.id"] == NODE
    assert second.resource.attributes["service.instance.id"] == other
    assert second.resource.attributes["service.name"] == AGENT_SERVICE


def test_without_tracing_here_a_dispatch_carries_no_trace_to_the_node() -> None:
    # Created while tracing was on; this process (the tests') exports nothing.
    deployment = Deployment(traceparent=DISPATCH)
    target = Target(deployment_id=deployment.id, server_id=uuid.uuid4(), action="install", name="app")

    assert dispatched(deployment, target) == ""
