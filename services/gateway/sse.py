"""Server-Sent Events (the WHATWG event-stream format) from a gRPC server stream: framing, heartbeats, and
closing the upstream call when the client goes away."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from prometheus_client import Gauge

from services.gateway.errors import http_status

__all__ = ["EVENT_STREAMS", "frame", "comment", "relay"]

log = logging.getLogger("convoy.gateway")

EVENT_STREAMS = Gauge("convoy_http_event_streams", "Event streams open to HTTP clients")


def frame(event: str, data: str, event_id: str = "") -> str:
    """One event. Every line of `data` gets its own `data:` field, so a line break can never end the
    event early or smuggle in a field of its own."""
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {event}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def comment(text: str) -> str:
    """A line clients ignore; it keeps idle connections open through proxies."""
    return f": {text}\n\n"


def _error(exc: grpc.aio.AioRpcError) -> str:
    status = http_status(exc.code())
    message = exc.details() or exc.code().name.lower()
    if status >= 500:
        message = "the event source stopped; reconnect to resume from the last event id"
    body = {"code": exc.code().name.lower(), "message": message}
    return frame("error", json.dumps(body))


async def relay(
    open_call: Callable[[], grpc.aio.UnaryStreamCall], render: Callable[[Any], str], heartbeat: float
) -> AsyncIterator[str]:
    """The messages of the call `open_call` starts as rendered events, with a comment after every `heartbeat` seconds of
    silence. An upstream failure becomes an `error` event that ends the stream (the client reconnects
    with Last-Event-ID). However the stream ends (the client hanging up cancels this generator), the
    upstream call is cancelled, so the service stops watching for a client that is gone."""
    # Opened here, not by the route: a generator that never starts (the client gone before the first
    # byte) runs no cleanup, and the call would stay open.
    call = open_call()
    EVENT_STREAMS.inc()
    # One read is kept pending across heartbeats: cancelling a read would cancel the whole call.
    pending: asyncio.Future[Any] = asyncio.ensure_future(call.read())
    try:
        yield comment("connected")
        while True:
            done, _ = await asyncio.wait({pending}, timeout=heartbeat)
            if not done:
                yield comment("keep-alive")
                continue
            try:
                message = pending.result()
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED:
                    log.info("event stream ended by upstream: %s %s", exc.code().name, exc.details())
                yield _error(exc)
                return
            if message is grpc.aio.EOF:
                return
            yield render(message)
            pending = asyncio.ensure_future(call.read())
    finally:
        EVENT_STREAMS.dec()
        if pending.done() and not pending.cancelled():
            pending.exception()  # seen: a failure nobody read is not worth a warning in the log
        pending.cancel()
        call.cancel()
