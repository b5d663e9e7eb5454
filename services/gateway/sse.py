"""Server-Sent Events (the WHATWG event-stream format) from a gRPC server stream: framing, heartbeats,
closing the upstream call when the client goes away, and the limit of streams per user."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from prometheus_client import Gauge

from services.gateway.errors import ApiError, http_status

__all__ = [
    "EVENT_STREAMS",
    "TOKEN_EXPIRED",
    "StreamSlots",
    "StreamSlot",
    "frame",
    "comment",
    "started",
    "relay",
]

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


# What a client reads when the stream ends because the access token that opened it expired.
TOKEN_EXPIRED = {
    "code": "unauthenticated",
    "message": "access token expired; reconnect with a fresh token and Last-Event-ID",
}
# How long a client refused for too many streams should wait: about as long as a browser takes to notice
# that a tab it closed has gone.
STREAMS_RETRY_AFTER = 10


class StreamSlots:
    """Counts the event streams each user has open in this process, so one user (or a script reconnecting
    in a loop) cannot hold every connection and upstream call of the gateway."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._open: dict[str, int] = {}

    def take(self, user: str) -> StreamSlot:
        """A slot for `user`, or a 429 with Retry-After when the user has every slot already."""
        if self._open.get(user, 0) >= self.per_user:
            raise ApiError(
                429,
                "resource_exhausted",
                f"at most {self.per_user} event streams may be open per user; close one and retry",
                {"Retry-After": str(STREAMS_RETRY_AFTER)},
            )
        self._open[user] = self._open.get(user, 0) + 1
        return StreamSlot(self, user)

    def open_for(self, user: str) -> int:
        return self._open.get(user, 0)

    def _give_back(self, user: str) -> None:
        left = self._open.get(user, 0) - 1
        if left > 0:
            self._open[user] = left
        else:
            self._open.pop(user, None)


class StreamSlot:
    """One user's stream slot; giving it back twice counts once (the stream and the response's cleanup
    both do, whichever runs)."""

    def __init__(self, slots: StreamSlots, user: str) -> None:
        self._slots, self._user, self._held = slots, user, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._give_back(self._user)


def _error(exc: grpc.aio.AioRpcError) -> str:
    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        # The call's only deadline is the expiry of the token that opened it.
        return frame("error", json.dumps(TOKEN_EXPIRED))
    status = http_status(exc.code())
    message = exc.details() or exc.code().name.lower()
    if status >= 500:
        message = "the event source stopped; reconnect to resume from the last event id"
    body = {"code": exc.code().name.lower(), "message": message}
    return frame("error", json.dumps(body))


async def started(call: grpc.aio.UnaryStreamCall, wait: float) -> None:
    """Waits up to `wait` seconds for the service to accept the call (its headers, or a first message)
    and raises its refusal (AioRpcError) if it refused: that can still be an HTTP error. A service that
    stays silent longer is taken to have accepted; a later refusal becomes an `error` event."""
    headers = asyncio.ensure_future(call.initial_metadata())
    try:
        await asyncio.wait({headers}, timeout=wait)
    finally:
        # Waiting for the headers is given up, not the call.
        headers.cancel()
    if call.done() and await call.code() != grpc.StatusCode.OK:
        await call.read()  # raises the call's failure


async def relay(
    call: grpc.aio.UnaryStreamCall, render: Callable[[Any], str], heartbeat: float, slot: StreamSlot
) -> AsyncIterator[str]:
    """The messages of `call` as rendered events, with a comment after every `heartbeat` seconds of
    silence. An upstream failure becomes an `error` event that ends the stream (the client reconnects
    with Last-Event-ID); so does the call's deadline, the expiry of the access token. However the stream
    ends (the client hanging up cancels this generator), the upstream call is cancelled, so the service
    stops watching for a client that is gone, and the user's stream slot is given back. (A generator
    that never starts runs none of this: the route's response cleans up then.)"""
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
        slot.release()
