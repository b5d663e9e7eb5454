"""Following the event stream: the format, reconnecting from the last event id, refreshing an expired
token at once, backing off up to a bound, and giving up once the stream has been gone too long."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from convoyctl.client import ApiClient
from convoyctl.config import Connection
from convoyctl.credentials import CredentialStore, Session
from convoyctl.errors import NotFound, Unavailable
from convoyctl.events import CONNECTED as CONNECTED_MARK
from convoyctl.events import MAX_DELAY, Comment, DeploymentEvents, Event, parse_stream
from tests.convoyctl.scripted import Request, ScriptedGateway

DEPLOYMENT = "d-1"


def sse(*frames: str) -> str:
    return "".join(frames)


def event(sequence: int, kind: str, data: dict[str, object]) -> str:
    return f"id: {sequence}\nevent: {kind}\ndata: {json.dumps(data)}\n\n"


CONNECTED = ": connected\n\n"


def test_the_event_stream_format() -> None:
    text = ': connected\n\nid: 7\nevent: target\ndata: {"a":\ndata: 1}\n\nevent: nothing\n\n: keep-alive\n\n'
    items = list(parse_stream(text.split("\n")))
    assert items == [
        Comment("connected"),
        Event("7", "target", '{"a":\n1}'),
        Comment("keep-alive"),
    ]
    assert items[1].json() == {"a": 1}  # type: ignore[union-attr]


class Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def api(
    gateway: ScriptedGateway, store: CredentialStore, logged_in: Callable[..., Session]
) -> Iterator[ApiClient]:
    logged_in(gateway.url, token="old")
    client = ApiClient(Connection(gateway.url), store)
    yield client
    client.close()


def follow(api: ApiClient, clock: Clock, count: int, give_up_after: float = 60.0) -> list[object]:
    """The first `count` items of the deployment's events."""
    items: list[object] = []
    events = DeploymentEvents(
        api, DEPLOYMENT, give_up_after=give_up_after, sleep=clock.sleep, clock=lambda: clock.now
    )
    for item in events:
        items.append(item)
        if len(items) == count:
            break
    return items


def test_a_lost_stream_is_reopened_from_the_last_event(gateway: ScriptedGateway, api: ApiClient) -> None:
    streams = [
        sse(CONNECTED, event(5, "target", {"n": 5}), event(6, "target", {"n": 6})),
        sse(CONNECTED, event(7, "deployment", {"n": 7})),
    ]

    @gateway.route("GET", "/api/v1/events")
    def events(request: Request) -> None:
        request.stream(streams.pop(0))

    clock = Clock()
    items = follow(api, clock, 5)
    assert [item.id if isinstance(item, Event) else item for item in items] == [
        CONNECTED_MARK,
        "5",
        "6",
        CONNECTED_MARK,
        "7",
    ]
    opened = gateway.requests("GET", "/api/v1/events")
    assert [r.headers.get("last-event-id") for r in opened] == [None, "6"]
    assert all(r.query["deployment_id"] == [DEPLOYMENT] for r in opened)
    assert clock.sleeps == [0.5], "one short wait before reconnecting"


def test_an_expired_token_is_refreshed_and_the_stream_reopened_at_once(
    gateway: ScriptedGateway, api: ApiClient, store: CredentialStore
) -> None:
    expired = 'event: error\ndata: {"code": "unauthenticated", "message": "access token expired"}\n\n'
    streams = [sse(CONNECTED, event(3, "target", {}), expired), sse(CONNECTED, event(4, "target", {}))]
    gateway.routes[("GET", "/api/v1/events")] = lambda request: request.stream(streams.pop(0))

    @gateway.route("POST", "/api/v1/auth/refresh")
    def refresh(request: Request) -> None:
        user = {"id": "u", "username": "alice"}
        request.reply(200, {"access_token": "new", "refresh_token": "refresh-new", "user": user})

    clock = Clock()
    assert len(follow(api, clock, 4)) == 4
    opened = gateway.requests("GET", "/api/v1/events")
    assert [(r.headers["authorization"], r.headers.get("last-event-id")) for r in opened] == [
        ("Bearer old", None),
        ("Bearer new", "3"),
    ]
    assert clock.sleeps == []
    assert store.session(gateway.url).access_token == "new"  # type: ignore[union-attr]


def test_an_unavailable_gateway_is_retried_with_growing_waits_until_the_bound(
    gateway: ScriptedGateway, api: ApiClient
) -> None:
    gateway.routes[("GET", "/api/v1/events")] = lambda r: r.error(503, "unavailable", "retry shortly")
    clock = Clock()
    with pytest.raises(Unavailable, match="lost the event stream of deployment d-1: retry shortly"):
        follow(api, clock, 1, give_up_after=60.0)
    assert clock.sleeps[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, MAX_DELAY]
    assert set(clock.sleeps[5:]) == {MAX_DELAY}
    assert 60.0 <= clock.now < 60.0 + MAX_DELAY


def test_a_connection_resets_the_waits(gateway: ScriptedGateway, api: ApiClient) -> None:
    answers = ["503", "503", "stream", "503", "stream"]

    @gateway.route("GET", "/api/v1/events")
    def events(request: Request) -> None:
        if answers.pop(0) == "503":
            request.error(503, "unavailable", "retry shortly")
        else:
            request.stream(sse(CONNECTED, event(len(answers), "target", {})))

    clock = Clock()
    assert len(follow(api, clock, 4)) == 4
    # Waits grow while it fails, and start again from the shortest after a stream was held.
    assert clock.sleeps == [0.5, 1.0, 0.5, 1.0]


def test_an_unknown_deployment_is_not_retried(gateway: ScriptedGateway, api: ApiClient) -> None:
    gateway.routes[("GET", "/api/v1/events")] = lambda r: r.error(404, "not_found", "no such deployment")
    with pytest.raises(NotFound, match="no such deployment"):
        follow(api, Clock(), 1)
    assert len(gateway.requests("GET", "/api/v1/events")) == 1
