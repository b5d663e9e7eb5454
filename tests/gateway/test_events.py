"""Deployment events as Server-Sent Events from the real gateway (served by uvicorn on a real socket) and the
real scheduler: order, resume with Last-Event-ID or since, heartbeats, and hanging up."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import REGISTRY

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from devstack.postgres import LocalPostgres
from services.auth.signing import Signer
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from tests.support.fullstack import FullStack, full_stack
from tests.support.packages import build_deb
from tests.support.stack import AuthStack, enroll_with_command, fresh_ip
from tests.support.users import Users, grpc_auth, http_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

EVENTS = "/api/v1/events"
# Every wait on the stream is bounded by this.
WAIT = 30.0
HEARTBEAT = 0.2


@pytest.fixture(scope="module")
async def stack(
    postgres: LocalPostgres, auth_stack: AuthStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FullStack]:
    async with full_stack(postgres, auth_stack, tmp_path_factory.mktemp("events"), scheduler={}) as running:
        yield running


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app behind uvicorn on a socket of its own (an in-process transport would wait for the end of an
    endless response); its lifespan runs here, as in `gateway_client`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    async with app.router.lifespan_context(app):
        await app.state.upstreams.keys.wait_loaded(10)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            async with asyncio.timeout(10):
                while not server.started:
                    await asyncio.sleep(0.02)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
            sock.close()


def gateway_settings(stack: FullStack, **values: object) -> GatewaySettings:
    """A gateway on the stack's services, with a short heartbeat, and `values`."""
    auth = stack.auth
    assert stack.scheduler is not None
    return GatewaySettings(
        env="dev",
        pki_dir=auth.pki_dir,
        auth_target=auth.target,
        inventory_target=stack.inventory.target,
        catalog_target=stack.catalog.target,
        transfer_target=stack.transfer.target,
        scheduler_target=stack.scheduler.target,
        events_heartbeat_seconds=HEARTBEAT,
        **values,
    )


@pytest.fixture(scope="module")
async def gateway(stack: FullStack) -> AsyncIterator[str]:
    """A second gateway on the same services, on a real socket, with a short heartbeat."""
    async with served(create_app(gateway_settings(stack))) as url:
        yield url


@dataclass
class Event:
    event: str = "message"
    id: str = ""
    data: list[str] = field(default_factory=list)

    @property
    def json(self) -> dict:
        return json.loads("\n".join(self.data))


@dataclass
class EventStream:
    """Reads a text/event-stream as the WHATWG parser does: events, and comments kept apart."""

    response: httpx.Response
    comments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lines = self.response.aiter_lines()

    async def next(self, timeout: float = WAIT) -> Event:
        event = Event()
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if not line:
                    if event.data or event.id:
                        return event
                    event = Event()
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if not name:
                    self.comments.append(value)
                elif name == "data":
                    event.data.append(value)
                elif name in ("event", "id"):
                    setattr(event, name, value)
        raise AssertionError("the event stream ended")

    async def until(self, predicate: Callable[[Event], bool], timeout: float = WAIT) -> list[Event]:
        """Events up to and including the first that satisfies `predicate`."""
        seen: list[Event] = []
        async with asyncio.timeout(timeout):
            while True:
                seen.append(await self.next())
                if predicate(seen[-1]):
                    return seen


@asynccontextmanager
async def watch(
    url: str, token: str, headers: dict[str, str] | None = None, **params: object
) -> AsyncIterator[EventStream]:
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(WAIT)) as client:
        async with client.stream(
            "GET", EVENTS, params=params, headers={**http_auth(token), **(headers or {})}
        ) as response:
            assert response.status_code == 200, (await response.aread()).decode()
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            yield EventStream(response)


def open_streams() -> float:
    """How many event streams the gateways of this process hold open, by their own metric."""
    return REGISTRY.get_sample_value("convoy_http_event_streams") or 0.0


async def deployment_ready(stack: FullStack, users: Users, tmp_path: Path, *, nodes: int = 2) -> dict:
    """Servers (deb) in a group and a package, ready to deploy; returns the create request body."""
    tag = f"ev-{uuid.uuid4().hex[:6]}"
    client, headers = stack.client, http_auth(users.operator)
    group = (await client.post("/api/v1/groups", json={"name": tag}, headers=headers)).json()
    for i in range(nodes):
        body = {
            "hostname": f"{tag}-{i}.test",
            "ip_address": fresh_ip(),
            "category": "web",
            "group_ids": [group["id"]],
        }
        server = (await client.post("/api/v1/servers", json=body, headers=headers)).json()
        async with stack.inventory.stub("scheduler") as stub:
            facts = inv_pb.OsFacts(package_family=inv_pb.PACKAGE_FAMILY_DEB, os_id="debian", arch="x86_64")
            await stub.RecordFacts(inv_pb.RecordFactsRequest(server_id=server["id"], os=facts), timeout=10)
    deb = build_deb(tmp_path, tag, "1.0", arch="all")
    with deb.open("rb") as file:
        package = await client.post(
            "/api/v1/packages", headers=headers, files={"file": (deb.name, file, "application/octet-stream")}
        )
    assert package.status_code == 201, package.text
    return {"package_id": package.json()["id"], "action": "install", "target": {"group_id": group["id"]}}


async def create(stack: FullStack, token: str, body: dict) -> dict:
    response = await stack.client.post("/api/v1/deployments", json=body, headers=http_auth(token))
    assert response.status_code == 201, response.text
    return response.json()["deployment"]


async def standing(stack: FullStack, deployment_id: str, headers: dict[str, str]) -> str:
    """The deployment and its targets as the API shows them: what a failed wait reports."""
    deployment = await stack.client.get(f"/api/v1/deployments/{deployment_id}", headers=headers)
    targets = await stack.client.get(f"/api/v1/deployments/{deployment_id}/targets", headers=headers)
    return f"deployment {deployment.text}; targets {targets.text}"


def is_final_deployment(deployment_id: str, state: str) -> Callable[[Event], bool]:
    def check(event: Event) -> bool:
        data = event.json
        return (
            event.event == "deployment"
            and data["deployment_id"] == deployment_id
            and data["deployment"]["state"] == state
        )

    return check


@pytest.fixture(scope="module")
async def earlier(stack: FullStack, users: Users, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A deployment made before the tests', so that theirs never hold event 1 and `since=1` replays every
    event of theirs (`since=0` means "from now on", which a test could not start in time for)."""
    body = await deployment_ready(stack, users, tmp_path_factory.mktemp("earlier"), nodes=1)
    return await create(stack, users.operator, body)


async def test_every_change_of_a_deployment_arrives_in_order(
    stack: FullStack, gateway: str, users: Users, tmp_path: Path, earlier: dict
) -> None:
    body = await deployment_ready(stack, users, tmp_path)
    deployment = await create(stack, users.operator, body)
    did, headers = deployment["id"], http_auth(users.operator)
    # The events so far are replayed, then the stream follows the changes as they happen.
    async with watch(gateway, users.viewer, deployment_id=did, since=1) as stream:
        created = await stream.next()
        for action in ("pause", "resume", "cancel"):
            response = await stack.client.post(f"/api/v1/deployments/{did}/{action}", headers=headers)
            assert response.status_code == 200, response.text
        seen = [created, *await stream.until(is_final_deployment(did, "cancelled"))]
    sequences = [int(e.id) for e in seen]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert all(e.event in ("deployment", "target") and e.json["deployment_id"] == did for e in seen)
    assert all(e.json["sequence"] == int(e.id) and e.json["time"].endswith("Z") for e in seen)
    assert seen[0].event == "deployment" and seen[0].json["deployment"]["state"] in ("pending", "running")
    states = [e.json["deployment"]["state"] for e in seen if e.event == "deployment"]
    # Each state the operator asked for, in that order, and nothing after the end.
    asked = [s for i, s in enumerate(states) if s in ("paused", "cancelled") and s != states[i - 1]]
    assert asked == ["paused", "cancelled"] and states[-1] == "cancelled"
    assert "running" in states[states.index("paused") :]
    for event in seen:
        if event.event == "target":
            target = event.json["target"]
            assert target["deployment_id"] == did and target["state"] in (
                "pending",
                "assigned",
                "cancelled",
            )
    final = {e.json["target"]["server_id"]: e.json["target"]["state"] for e in seen if e.event == "target"}
    listed = await stack.client.get(f"/api/v1/deployments/{did}/targets", headers=http_auth(users.viewer))
    # The last event of each target is its state now.
    assert final == {t["server_id"]: t["state"] for t in listed.json()["items"]}
    assert len(final) == 2


async def test_a_reconnect_resumes_after_the_last_event_seen(
    stack: FullStack, gateway: str, users: Users, tmp_path: Path, earlier: dict
) -> None:
    body = await deployment_ready(stack, users, tmp_path)
    deployment = await create(stack, users.operator, body)
    did = deployment["id"]
    async with watch(gateway, users.viewer, deployment_id=did, since=1) as stream:
        for action in ("pause", "cancel"):
            response = await stack.client.post(
                f"/api/v1/deployments/{did}/{action}", headers=http_auth(users.operator)
            )
            assert response.status_code == 200, response.text
        first = [
            e
            for e in await stream.until(is_final_deployment(did, "cancelled"))
            if e.json["deployment_id"] == did
        ]
    assert len(first) >= 3
    cut = first[0].id
    expected = [(e.id, e.event, e.data) for e in first[1:]]
    # A browser reconnecting sends the URL it first used and the id of the last event it got.
    for params, headers in (
        ({"deployment_id": did}, {"Last-Event-ID": cut}),
        ({"deployment_id": did, "since": cut}, {}),
        ({"deployment_id": did, "since": "0"}, {"Last-Event-ID": cut}),
    ):
        async with watch(gateway, users.viewer, headers, **params) as again:
            replayed = await again.until(is_final_deployment(did, "cancelled"))
        assert [(e.id, e.event, e.data) for e in replayed] == expected, (params, headers)


async def test_an_idle_stream_has_heartbeats_and_hanging_up_ends_the_watch(
    stack: FullStack, gateway: str, users: Users, tmp_path: Path
) -> None:
    body = await deployment_ready(stack, users, tmp_path, nodes=1)
    deployment = await create(stack, users.operator, body)
    before = open_streams()
    async with watch(gateway, users.viewer, deployment_id=deployment["id"]) as stream:
        async with asyncio.timeout(WAIT):
            async for line in stream.response.aiter_lines():
                if line == ": keep-alive":
                    break
        assert open_streams() == before + 1
    # The client is gone: the gateway notices and cancels the scheduler call.
    async with asyncio.timeout(WAIT):
        while open_streams() != before:
            await asyncio.sleep(0.05)


async def test_who_may_watch_and_what_is_refused_before_the_stream_starts(
    stack: FullStack, gateway: str, users: Users, tmp_path: Path
) -> None:
    body = await deployment_ready(stack, users, tmp_path, nodes=1)
    deployment = await create(stack, users.operator, body)
    async with httpx.AsyncClient(base_url=gateway, timeout=WAIT) as client:
        anonymous = await client.get(EVENTS, params={"deployment_id": deployment["id"]})
        assert anonymous.status_code == 401
        cases = [
            ({"deployment_id": str(uuid.uuid4())}, {}, 404),
            ({"deployment_id": "not-a-uuid"}, {}, 400),
            ({"deployment_id": deployment["id"], "since": "-1"}, {}, 400),
            ({"deployment_id": deployment["id"], "since": "x"}, {}, 400),
            ({"deployment_id": deployment["id"], "since": str(10**19)}, {}, 400),
            ({"deployment_id": deployment["id"]}, {"Last-Event-ID": "abc"}, 400),
            ({"deployment_id": deployment["id"]}, {"Last-Event-ID": "-5"}, 400),
            ({"deployment_id": deployment["id"]}, {"Last-Event-ID": "9" * 40}, 400),
            ({"deployment_id": "x" * 65}, {}, 400),
        ]
        for params, extra, status in cases:
            rid = request_id("ev")
            response = await client.get(
                EVENTS, params=params, headers={**http_auth(users.viewer, rid), **extra}
            )
            assert response.status_code == status, (params, extra, response.text)
            error = response.json()["error"]
            assert error["request_id"] == rid and error["message"]
    # Every role may watch.
    for token in (users.viewer, users.operator, users.admin):
        async with watch(gateway, token, deployment_id=deployment["id"]) as stream:
            async with asyncio.timeout(WAIT):
                async for line in stream.response.aiter_lines():
                    if line.startswith(":"):
                        break


def step(state: int) -> str:
    """The log line a node sends with its progress into `state`."""
    return f"step {agent_pb.TaskState.Name(state)}"


class NodeStream:
    """A node's Connect stream, spoken the way the agent speaks it; every read is bounded."""

    def __init__(self, call: grpc.aio.StreamStreamCall) -> None:
        self.call = call

    async def send(self, **message: object) -> None:
        await self.call.write(agent_pb.AgentMessage(**message))

    async def receive(self, kind: str) -> agent_pb.ServerMessage:
        async with asyncio.timeout(WAIT):
            while True:
                message = await self.call.read()
                assert message is not grpc.aio.EOF, "the scheduler closed the stream"
                if message.WhichOneof("message") == kind:
                    return message


async def test_a_node_working_through_its_task_shows_every_state_in_order(
    stack: FullStack, gateway: str, users: Users, tmp_path: Path, earlier: dict
) -> None:
    assert stack.scheduler is not None
    steps = ((agent_pb.TASK_STATE_DOWNLOADING, 40), (agent_pb.TASK_STATE_AWAITING_APPROVAL, 0))
    body = await deployment_ready(stack, users, tmp_path, nodes=0)
    group_id = body["target"]["group_id"]
    headers = http_auth(users.operator)
    token = await stack.client.post("/api/v1/join-tokens", json={"group_ids": [group_id]}, headers=headers)
    assert token.status_code == 201, token.text
    enrolled = await enroll_with_command(token.json()["command"], stack.auth.pki_dir, fresh_ip())
    node_id = enrolled.node_id
    async with enrolled.channel(stack.scheduler.agent_target, "scheduler") as channel:
        node = NodeStream(agent_grpc.AgentServiceStub(channel).Connect())
        await node.send(hello=agent_pb.Hello(facts=agent_pb.Facts(hostname="web-node", arch="x86_64")))
        deployment = await create(stack, users.operator, {**body, "strategy": {"require_approval": True}})
        did = deployment["id"]
        async with watch(gateway, users.viewer, deployment_id=did, since=1) as stream:
            try:
                task = (await node.receive("assignment")).assignment
            except TimeoutError:
                pytest.fail(f"no assignment reached the node: {await standing(stack, did, headers)}")
            assert task.deployment_id == did
            ids = {"assignment_id": task.assignment_id, "attempt": task.attempt}
            for state, percent in steps:
                await node.send(
                    progress=agent_pb.TaskProgress(
                        **ids, state=state, percent=percent, log_lines=[step(state)]
                    )
                )
            await stream.until(
                lambda e: e.event == "target" and e.json["target"]["state"] == "awaiting_approval"
            )
            approved = await stack.client.post(
                f"/api/v1/deployments/{did}/approve", json={"server_ids": [node_id]}, headers=headers
            )
            assert approved.status_code == 200 and approved.json()["approved"] == 1, approved.text
            assert (await node.receive("approve")).approve.assignment_id == task.assignment_id
            await node.send(progress=agent_pb.TaskProgress(**ids, state=agent_pb.TASK_STATE_INSTALLING))
            await node.send(
                result=agent_pb.TaskResult(
                    **ids, state=agent_pb.TASK_STATE_SUCCEEDED, installed_version="1.0"
                )
            )
            assert (await node.receive("ack")).ack.assignment_id == task.assignment_id
            await stream.until(is_final_deployment(did, "succeeded"))
        node.call.cancel()
    async with watch(gateway, users.viewer, deployment_id=did, since=1) as replay:
        seen = await replay.until(is_final_deployment(did, "succeeded"))
    sequences = [int(e.id) for e in seen]
    assert sequences == sorted(set(sequences))
    states = [e.json["target"]["state"] for e in seen if e.event == "target"]
    changes = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
    assert changes[changes.index("assigned") :] == [
        "assigned",
        "downloading",
        "awaiting_approval",
        "installing",
        "succeeded",
    ], states
    last = [e.json["target"] for e in seen if e.event == "target"][-1]
    assert (last["server_id"], last["installed_version"]) == (node_id, "1.0")
    log = await stack.client.get(f"/api/v1/deployments/{did}/targets/{node_id}/log", headers=headers)
    assert log.status_code == 200, log.text
    assert [line["text"] for line in log.json()["lines"]][:2] == [step(state) for state, _ in steps]
    software = await stack.client.get(f"/api/v1/servers/{node_id}/software", headers=headers)
    assert (deployment["software_name"], "1.0") in [
        (s["name"], s["version"]) for s in software.json()["items"]
    ]
    assert task.require_approval, "the assignment did not tell the node to wait for approval"


def short_lived(stack: FullStack, token: str, seconds: int) -> str:
    """The same user's access token (same session), signed by auth's own key, that expires `seconds`
    from now: what a client holds near the end of its token's life."""
    settings = stack.auth.settings
    claims = jwt.decode(token, options={"verify_signature": False})
    signer = Signer(
        settings.jwt_key_file.read_bytes(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime=timedelta(seconds=seconds),
    )
    issued = signer.issue(
        user_id=claims["sub"],
        username=claims["name"],
        role=claims["role"],
        session_id=claims["sid"],
        now=datetime.now(UTC),
    )
    return issued.token


async def test_a_stream_ends_with_an_error_event_when_the_token_that_opened_it_expires(
    stack: FullStack, gateway: str, users: Users, tmp_path: Path, earlier: dict
) -> None:
    body = await deployment_ready(stack, users, tmp_path, nodes=1)
    did = (await create(stack, users.operator, body))["id"]
    before = open_streams()
    token = short_lived(stack, users.viewer, 3)
    async with watch(gateway, token, deployment_id=did, since=1) as stream:
        # Events flow while the token is valid …
        seen = [await stream.next()]
        assert seen[0].json["deployment_id"] == did
        # … and at its expiry the stream says why it ends, and ends.
        seen += await stream.until(lambda e: e.event == "error")
        assert seen[-1].json == {
            "code": "unauthenticated",
            "message": "access token expired; reconnect with a fresh token and Last-Event-ID",
        }
        with pytest.raises(AssertionError, match="ended"):
            await stream.next()
    async with asyncio.timeout(WAIT):
        while open_streams() != before:
            await asyncio.sleep(0.05)
    # A fresh token resumes where the expired one stopped: nothing seen is replayed, the next change comes.
    last = max(int(e.id) for e in seen if e.id)
    async with watch(gateway, users.viewer, {"Last-Event-ID": str(last)}, deployment_id=did) as resumed:
        cancelled = await stack.client.post(
            f"/api/v1/deployments/{did}/cancel", headers=http_auth(users.operator)
        )
        assert cancelled.status_code == 200, cancelled.text
        after = await resumed.until(is_final_deployment(did, "cancelled"))
    assert int(after[0].id) > last
    assert all(int(e.id) > last and e.json["deployment_id"] == did for e in after)


async def test_a_user_may_hold_only_so_many_streams(stack: FullStack, users: Users, tmp_path: Path) -> None:
    body = await deployment_ready(stack, users, tmp_path, nodes=1)
    did = (await create(stack, users.operator, body))["id"]
    async with served(create_app(gateway_settings(stack, events_max_streams_per_user=2))) as url:
        async with watch(url, users.viewer, deployment_id=did), watch(url, users.viewer, deployment_id=did):
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
                rid = request_id("ev")
                refused = await client.get(
                    EVENTS, params={"deployment_id": did}, headers=http_auth(users.viewer, rid)
                )
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) > 0
            error = refused.json()["error"]
            assert (error["code"], error["request_id"]) == ("resource_exhausted", rid)
            assert "at most 2 event streams" in error["message"]
            # Another user is not affected.
            async with watch(url, users.operator, deployment_id=did):
                pass
        # Closed streams give their slots back.
        async with asyncio.timeout(WAIT):
            while True:
                async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
                    async with client.stream(
                        "GET", EVENTS, params={"deployment_id": did}, headers=http_auth(users.viewer)
                    ) as response:
                        if response.status_code == 200:
                            break
                        assert response.status_code == 429
                await asyncio.sleep(0.05)


async def test_resuming_beyond_the_last_event_is_refused_before_the_stream_starts(
    stack: FullStack, gateway: str, users: Users, tmp_path: Path, earlier: dict
) -> None:
    assert stack.scheduler is not None
    body = await deployment_ready(stack, users, tmp_path, nodes=1)
    did = (await create(stack, users.operator, body))["id"]
    # After a database reset, a browser still holds the ids of the events it saw before.
    beyond = str(10**17)
    async with httpx.AsyncClient(base_url=gateway, timeout=WAIT) as client:
        for params, headers in (
            ({"deployment_id": did, "since": beyond}, {}),
            ({"deployment_id": did}, {"Last-Event-ID": beyond}),
            ({}, {"Last-Event-ID": beyond}),
        ):
            response = await client.get(EVENTS, params=params, headers={**http_auth(users.viewer), **headers})
            assert response.status_code == 400, (params, headers, response.text)
            error = response.json()["error"]
            assert error["code"] == "out_of_range" and "beyond the last event" in error["message"], error
    async with stack.scheduler.stub("gateway") as stub:
        call = stub.WatchDeployment(
            sched_pb.WatchDeploymentRequest(deployment_id=did, since_sequence=10**17),
            metadata=grpc_auth(users.viewer),
            timeout=WAIT,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call.read()
        assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
    # Resuming from an event the log holds is fine: the events after it come as they happen.
    async with watch(gateway, users.viewer, deployment_id=did, since=1) as stream:
        seen = await stream.next()
    async with watch(gateway, users.viewer, {"Last-Event-ID": seen.id}, deployment_id=did) as stream:
        response = await stack.client.post(
            f"/api/v1/deployments/{did}/cancel", headers=http_auth(users.operator)
        )
        assert response.status_code == 200, response.text
        await stream.until(is_final_deployment(did, "cancelled"))
