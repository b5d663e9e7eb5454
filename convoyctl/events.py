"""Following a deployment's Server-Sent Events (GET /api/v1/events): parsing the stream, and reconnecting
with Last-Event-ID, backing off up to a bound, until the stream has been gone too long."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from convoyctl.client import ApiClient, transport_message
from convoyctl.errors import CliError, Unavailable

__all__ = ["Event", "Comment", "CONNECTED", "Connected", "parse_stream", "DeploymentEvents"]

FIRST_DELAY = 0.5
MAX_DELAY = 10.0
# How long a stream may stay lost before the watch gives up (the deployment goes on regardless).
GIVE_UP_AFTER = 120.0


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass(frozen=True)
class Comment:
    text: str


class Connected:
    """Marks a (re)connection: what happened while no stream was open is read again by the caller."""


CONNECTED = Connected()


def parse_stream(lines: Iterable[str]) -> Iterator[Event | Comment]:
    """Events and comments of the event-stream format: fields up to a blank line make an event; `data`
    lines join with a newline; an event without data is dropped, as browsers do."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if "data" in fields:
                yield Event(fields.get("id", ""), fields.get("event") or "message", fields["data"])
            fields = {}
        elif line.startswith(":"):
            yield Comment(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else value


class DeploymentEvents:
    """The events of one deployment across reconnections: CONNECTED after each connection, then its
    events. A lost stream is reopened after FIRST_DELAY, doubling up to MAX_DELAY, from the last event id
    seen; an `error` event for an expired token is answered with a refresh. Unavailable once no stream
    could be held for `give_up_after` seconds."""

    def __init__(
        self,
        api: ApiClient,
        deployment_id: str,
        *,
        give_up_after: float = GIVE_UP_AFTER,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api, self.deployment_id = api, deployment_id
        self.give_up_after, self._sleep, self._clock = give_up_after, sleep, clock
        self.last_event_id = ""
        self._connected = self._token_expired = False

    def __iter__(self) -> Iterator[Event | Connected]:
        delay, lost_since = FIRST_DELAY, None
        while True:
            self._connected = False
            try:
                yield from self._one_stream()
                problem = "the event stream ended"
            except httpx.TransportError as exc:
                problem = transport_message(self.api.server, exc)
            except CliError as exc:
                if not _retryable(exc):
                    raise
                problem = exc.message
            if self._connected:
                delay, lost_since = FIRST_DELAY, None
            now = self._clock()
            lost_since = now if lost_since is None else lost_since
            if now - lost_since >= self.give_up_after:
                raise Unavailable(f"lost the event stream of deployment {self.deployment_id}: {problem}")
            if self._token_expired:
                self._token_expired = False
                continue  # reconnects at once with the refreshed token
            self._sleep(delay)
            delay = min(delay * 2, MAX_DELAY)

    def _one_stream(self) -> Iterator[Event | Connected]:
        headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
        params = {"deployment_id": self.deployment_id}
        with self.api.stream("/api/v1/events", params, headers) as response:
            for item in parse_stream(response.iter_lines()):
                if isinstance(item, Comment):
                    if item.text == "connected":
                        self._connected = True
                        yield CONNECTED
                    continue
                if item.kind == "error":
                    self._stream_error(item)
                    return
                if item.id:
                    self.last_event_id = item.id
                yield item

    def _stream_error(self, event: Event) -> None:
        """The gateway ends a stream with an error event: the token expired, or its source failed."""
        try:
            code = event.json().get("code", "")
        except (ValueError, AttributeError):
            code = ""
        if code == "unauthenticated":
            self._token_expired = True
            self.api.refresh(self.api.access_token)


def _retryable(exc: CliError) -> bool:
    """Worth reconnecting for: the gateway or a service is down or busy; anything else will not change."""
    return isinstance(exc, Unavailable) or exc.status == 429
