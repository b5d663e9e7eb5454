"""JSON log lines carry the trace and span of the operation they were written in."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from services.kit.logs import configure_logging


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, given back as it was (configure_logging replaces its handlers)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_line_inside_a_span_carries_its_trace_and_span_ids(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("unit", "INFO")
    tracer = TracerProvider().get_tracer("test")

    with tracer.start_as_current_span("call") as span:
        logging.getLogger("convoy.test").info("inside")
    logging.getLogger("convoy.test").info("outside")

    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    context = span.get_span_context()
    assert (inside["message"], inside["service"]) == ("inside", "unit")
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert (outside["message"], outside["trace_id"], outside["span_id"]) == ("outside", "", "")
