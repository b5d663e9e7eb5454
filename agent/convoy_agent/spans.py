"""The phases of a task timed as trace spans, for the scheduler to export (the node runs no tracing library).

An assignment that carries the scheduler's traceparent (its dispatch span) gets its download and install
timed; the records go back in the task's result, and the scheduler exports them as children of that span.
While a phase runs, `traceparent()` names it, so that the calls it makes (the download from transfer)
join the same trace.
"""

import binascii
import contextlib
import os
import re
import threading
import time
from typing import Dict, Iterator, List, Optional, Tuple, Union

from convoy_agent.proto import agent_pb2

# version-traceid-parentid-flags, as W3C Trace Context writes it.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ERROR_CHARS = 512

Value = Union[str, int]


def parse(traceparent: str) -> Optional[str]:
    """The trace id of a valid traceparent, else None (an agent untraced by its scheduler)."""
    match = _TRACEPARENT.fullmatch(traceparent or "")
    if match is None or match.group(1) == "ff":
        return None
    if int(match.group(2), 16) == 0 or int(match.group(3), 16) == 0:
        return None
    return match.group(2)


class Recorder:
    """The spans of one task: none unless its assignment carries a valid traceparent."""

    def __init__(self, traceparent: str) -> None:
        self.trace_id = parse(traceparent)
        self.flags = traceparent[-2:] if self.trace_id else "00"
        self.spans = []  # type: List[agent_pb2.TaskSpan]
        self._current = None  # type: Optional[str]
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def phase(self, name: str, attributes: Dict[str, Value]) -> Iterator[None]:
        """`with recorder.phase("download", {...}):` times the block; an exception marks it failed."""
        if self.trace_id is None:
            yield
            return
        span = _new_span(name, attributes)
        outer, self._current = self._current, span.span_id
        try:
            yield
        except BaseException as error:
            span.failed = True
            span.error = (str(error) or type(error).__name__)[:_ERROR_CHARS]
            raise
        finally:
            self._current = outer
            span.end_time_unix_nano = _now_nanos()
            with self._lock:
                self.spans.append(span)

    def traceparent(self) -> str:
        """Names the phase running now as the parent; "" when untraced or between phases."""
        current = self._current
        if self.trace_id is None or current is None:
            return ""
        return "00-%s-%s-%s" % (self.trace_id, current, self.flags)

    def metadata(self) -> Optional[List[Tuple[str, str]]]:
        """gRPC metadata for a call made during the current phase, None when there is nothing to send."""
        value = self.traceparent()
        return [("traceparent", value)] if value else None

    def records(self) -> List[agent_pb2.TaskSpan]:
        with self._lock:
            return list(self.spans)


def _new_span(name: str, attributes: Dict[str, Value]) -> agent_pb2.TaskSpan:
    span = agent_pb2.TaskSpan(
        name=name,
        span_id=binascii.hexlify(os.urandom(8)).decode(),
        start_time_unix_nano=_now_nanos(),
    )
    for key, value in sorted(attributes.items()):
        item = span.attributes.add(key=key)
        if isinstance(value, int):
            item.int_value = value
        else:
            item.string_value = str(value)
    return span


def _now_nanos() -> int:
    return int(time.time() * 1e9)
