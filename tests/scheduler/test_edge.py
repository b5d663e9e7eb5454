"""The agents' edge of the scheduler over real mutual TLS: a node enrolled through real auth and inventory
connects with its own certificate, gets its work pushed with grants, reports, and is cut off when revoked."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from devstack.postgres import LocalPostgres
from services.kit.context import CallContext, Principal, use_call
from services.kit.db import Database
from services.kit.errors import PermissionDenied
from services.kit.grants import verify_grant
from services.scheduler.config import SchedulerSettings
from services.scheduler.edge import AgentEdge
from services.scheduler.models import SCHEMA, Deployment, Target
from services.scheduler.notify import plain_dsn
from services.scheduler.server import SchedulerProcess
from tests.support.inventory import InventoryStack
from tests.support.stack import AuthStack, fresh_database, service_settings
from tests.support.users import Users, audit_by_request, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

WAIT = 15.0  # every wait on the stream is bounded by this many seconds
_hosts = iter(range(1, 60000))


@dataclass
class Scheduler:
    process: SchedulerProcess
    settings: SchedulerSettings
    database_url: str
    pki_dir: Path

    @property
    def edge(self) -> AgentEdge:
        assert self.process.edge is not None
        return self.process.edge

    @property
    def agent_target(self) -> str:
        return f"127.0.0.1:{self.edge.agent_port}"

    @property
    def enroll_target(self) -> str:
        return f"127.0.0.1:{self.edge.enroll_port}"

    @property
    def db(self) -> Database:
        return self.process.db


@asynccontextmanager
async def start_scheduler(
    postgres: LocalPostgres, auth: AuthStack, inventory: InventoryStack, **overrides: Any
) -> AsyncIterator[Scheduler]:
    url = await fresh_database(postgres, "scheduler", migrations=(("services.scheduler", SCHEMA),))
    values = {
        "auth_target": auth.target,
        "inventory_target": inventory.target,
        "agent_listen": "127.0.0.1:0",
        "enroll_listen": "127.0.0.1:0",
        "transfer_target": "127.0.0.1:50055",
        "heartbeat_seconds": 0.5,
        "offline_grace_seconds": 1.0,
        **overrides,
    }
    settings = SchedulerSettings(**service_settings(url, auth.pki_dir, **values))
    process = SchedulerProcess(settings)
    await process.start()
    try:
        await process.keys.wait_loaded(10)
        assert process.edge is not None
        await asyncio.wait_for(process.edge.listener.connected.wait(), WAIT)
        yield Scheduler(process, settings, url, auth.pki_dir)
    finally:
        await process.stop()


@pytest.fixture(scope="module")
async def scheduler(
    postgres: LocalPostgres, auth_stack: AuthStack, inventory: InventoryStack
) -> AsyncIterator[Scheduler]:
    # Short polls: a stream looks at its node's work again every few polls even when nothing woke it.
    async with start_scheduler(postgres, auth_stack, inventory, poll_seconds=0.5) as stack:
        yield stack


# --- the node's side: its key, its CSR, its channels ------------------------------------------------


@dataclass
class Node:
    key_pem: bytes
    node_id: str = ""
    certificate_pem: bytes = b""
    ip: str = ""


def new_key() -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, key


def csr_for(key: ec.EllipticCurvePrivateKey, common_name: str = "admin") -> str:
    """A CSR asking for a name the node must not get: the server chooses the identity."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )


def channel_to(target: str, pki_dir: Path, node: Node | None = None) -> grpc.aio.Channel:
    """As the agent connects: the pinned service CA, the scheduler's certificate name, and (after
    enrollment) its own key and certificate."""
    roots = (pki_dir / "ca.pem").read_bytes()
    if node is None or not node.certificate_pem:
        credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    else:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=roots, private_key=node.key_pem, certificate_chain=node.certificate_pem
        )
    return grpc.aio.secure_channel(
        target, credentials, options=[("grpc.ssl_target_name_override", "scheduler")]
    )


def next_ip() -> str:
    n = next(_hosts)
    return f"10.77.{n // 250}.{n % 250 + 1}"


def node_facts(ip: str, hostname: str = "") -> agent_pb.Facts:
    return agent_pb.Facts(
        hostname=hostname or f"node-{ip.replace('.', '-')}",
        ip_addresses=[ip],
        os_id="kylin",
        id_like=["rhel"],
        version_id="V10",
        pretty_name="Kylin Linux Advanced Server V10",
        package_family=agent_pb.PACKAGE_FAMILY_RPM,
        arch="x86_64",
        kernel="4.19.90",
        python_version="3.7.9",
        agent_version="0.4.0",
    )


async def join_token(auth: AuthStack, users: Users, *, group_ids: list[str] | None = None) -> str:
    async with auth.channel("gateway") as channel:
        reply = await auth_grpc.EnrollmentServiceStub(channel).CreateJoinToken(
            auth_pb.CreateJoinTokenRequest(group_ids=group_ids or []),
            metadata=grpc_auth(users.operator),
            timeout=10,
        )
    return reply.token


async def enroll(
    scheduler: Scheduler, token: str, *, ip: str = "", rid: str = ""
) -> tuple[Node, agent_pb.EnrollResponse]:
    key_pem, key = new_key()
    node = Node(key_pem, ip=ip or next_ip())
    request = agent_pb.EnrollRequest(token=token, csr_pem=csr_for(key), facts=node_facts(node.ip))
    metadata = (("x-request-id", rid),) if rid else ()
    async with channel_to(scheduler.enroll_target, scheduler.pki_dir) as channel:
        reply = await agent_grpc.AgentServiceStub(channel).Enroll(request, metadata=metadata, timeout=10)
    node.node_id, node.certificate_pem = reply.node_id, reply.certificate_pem.encode()
    return node, reply


async def enrolled_node(scheduler: Scheduler, auth: AuthStack, users: Users) -> Node:
    node, _ = await enroll(scheduler, await join_token(auth, users))
    return node


class Stream:
    """One Connect stream of a node, read with a deadline on every message."""

    def __init__(self, call: Any) -> None:
        self.call = call

    async def send(self, **message: Any) -> None:
        await self.call.write(agent_pb.AgentMessage(**message))

    async def hello(self, node: Node, installed: list[agent_pb.InstalledSoftware] | None = None) -> None:
        await self.send(hello=agent_pb.Hello(facts=node_facts(node.ip), installed=installed or []))

    async def receive(self) -> agent_pb.ServerMessage:
        message = await asyncio.wait_for(self.call.read(), WAIT)
        assert message is not grpc.aio.EOF, "the stream ended"
        return message

    async def closed_with(self) -> tuple[grpc.StatusCode, list[agent_pb.ServerMessage]]:
        """Reads to the end: the status and what came before it."""
        seen = []
        while True:
            try:
                message = await asyncio.wait_for(self.call.read(), WAIT)
            except grpc.aio.AioRpcError as exc:
                return exc.code(), seen
            if message is grpc.aio.EOF:
                return await asyncio.wait_for(self.call.code(), WAIT), seen
            seen.append(message)


@asynccontextmanager
async def connect(scheduler: Scheduler, node: Node, rid: str = "") -> AsyncIterator[Stream]:
    async with channel_to(scheduler.agent_target, scheduler.pki_dir, node) as channel:
        metadata = (("x-request-id", rid),) if rid else ()
        call = agent_grpc.AgentServiceStub(channel).Connect(metadata=metadata)
        try:
            yield Stream(call)
        finally:
            call.cancel()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def server_of(inventory: InventoryStack, node_id: str) -> inv_pb.Server:
    async with inventory.stub("scheduler") as stub:
        return (await stub.RecordFacts(inv_pb.RecordFactsRequest(server_id=node_id), timeout=10)).server


async def installed_of(inventory: InventoryStack, node_id: str) -> dict[str, str]:
    async with inventory.stub("scheduler") as stub:
        reply = await stub.ListInstalled(inv_pb.ListInstalledRequest(server_id=node_id), timeout=10)
    return {row.software.name: row.software.version for row in reply.installed}


# --- work for a node, as the rollout leaves it: an assigned target row and a NOTIFY ------------------


async def assign(
    scheduler: Scheduler, node: Node, *, name: str = "nginx-app", version: str = "2.1", notify: bool = True
) -> Target:
    """`notify=False`: as if the notification were lost (a LISTEN connection that died silently)."""
    now = datetime.now(UTC)
    deployment = Deployment(
        software_name=name,
        version=version,
        format="rpm",
        action="install",
        target_kind="server_id",
        target_value=node.node_id,
        batch_size=1,
        failure_budget=0,
        state="running",
        created_by="user:test",
        created_at=now,
        updated_at=now,
    )
    target = Target(
        deployment_id=deployment.id,
        server_id=uuid.UUID(node.node_id),
        state="assigned",
        action="install",
        name=name,
        version=version,
        format="rpm",
        arch="x86_64",
        sha256="ab" * 32,
        size=1234,
        assignment_id=uuid.uuid4(),
        deploy_profile={"restart_service": "nginx-app.service"},
        assigned_at=now,
        updated_at=now,
    )
    async with scheduler.db.transaction() as session:
        session.add(deployment)
        await session.flush()
        session.add(target)
        await session.flush()
        if notify:
            await (await session.connection()).execute(
                text("SELECT pg_notify('convoy_node', :id)"), {"id": node.node_id}
            )
    return target


async def node_row(scheduler: Scheduler, node_id: str) -> Any:
    async with scheduler.db.transaction() as session:
        return (
            await (await session.connection()).execute(
                text("SELECT * FROM scheduler.nodes WHERE node_id = :id"), {"id": node_id}
            )
        ).first()


# --- the tests ----------------------------------------------------------------------------------------


async def test_hello_marks_the_server_online_with_its_facts_and_installed_software(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    installed = [agent_pb.InstalledSoftware(name="redis", version="7.0.1", format=agent_pb.FORMAT_RPM)]
    async with connect(scheduler, node) as stream:
        await stream.hello(node, installed)

        async def online() -> bool:
            return (await server_of(inventory, node.node_id)).status == inv_pb.SERVER_STATUS_ONLINE

        await eventually(online, "the server to be online")
        server = await server_of(inventory, node.node_id)
        assert (server.ip_address, server.os.os_id, server.os.arch) == (node.ip, "kylin", "x86_64")
        assert server.agent_version == "0.4.0"
        await eventually(lambda: _has(inventory, node.node_id, {"redis": "7.0.1"}), "installed software")
        row = await node_row(scheduler, node.node_id)
        assert row.connected_by == scheduler.edge.book.process
        assert row.hostname == node_facts(node.ip).hostname


async def _has(inventory: InventoryStack, node_id: str, expected: dict[str, str]) -> bool:
    return await installed_of(inventory, node_id) == expected


async def test_an_assignment_arrives_once_with_a_grant_and_its_result_is_recorded_and_acknowledged(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        await eventually(lambda: _online(inventory, node.node_id), "hello to be processed")
        target = await assign(scheduler, node)
        message = await stream.receive()
        assignment = message.assignment
        assert assignment.assignment_id == str(target.assignment_id)
        assert (assignment.attempt, assignment.action) == (1, agent_pb.ACTION_INSTALL)
        assert (assignment.package.name, assignment.package.version) == ("nginx-app", "2.1")
        assert assignment.package.format == agent_pb.FORMAT_RPM
        assert assignment.deploy_profile.restart_service == "nginx-app.service"
        assert assignment.transfer_address == ":50055"
        ca = x509.load_pem_x509_certificate((scheduler.pki_dir / "ca.pem").read_bytes())
        verify_grant(assignment.download_grant, trusted_ca=ca, node_id=node.node_id, sha256="ab" * 32)

        # Woken again (another deployment for the node): the first assignment is not sent twice.
        second = await assign(scheduler, node, name="other-app", version="1.0")
        again = await stream.receive()
        assert again.assignment.assignment_id == str(second.assignment_id)

        progress = agent_pb.TaskProgress(
            assignment_id=assignment.assignment_id,
            attempt=1,
            state=agent_pb.TASK_STATE_DOWNLOADING,
            percent=42,
            log_lines=["downloading"],
        )
        await stream.send(progress=progress)
        result = agent_pb.TaskResult(
            assignment_id=assignment.assignment_id,
            attempt=1,
            state=agent_pb.TASK_STATE_SUCCEEDED,
            installed_version="2.1",
            message="installed",
        )
        await stream.send(result=result)
        ack = (await stream.receive()).ack
        assert (ack.assignment_id, ack.attempt) == (assignment.assignment_id, 1)
        async with scheduler.db.transaction() as session:
            row = await session.get(Target, (target.deployment_id, target.server_id, 1))
        assert row is not None
        assert (row.state, row.installed_version, row.reported) == ("succeeded", "2.1", True)
        assert await installed_of(inventory, node.node_id) == {"nginx-app": "2.1"}

        # The same result again (a resend after a reconnect): acknowledged, nothing changes.
        await stream.send(result=result)
        assert (await stream.receive()).ack.assignment_id == assignment.assignment_id


async def _online(inventory: InventoryStack, node_id: str) -> bool:
    return (await server_of(inventory, node_id)).status == inv_pb.SERVER_STATUS_ONLINE


async def test_a_reconnected_node_gets_its_unfinished_work_again(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    target = await assign(scheduler, node)  # queued while the node is not connected
    for _ in range(2):
        async with connect(scheduler, node) as stream:
            await stream.hello(node)
            assert (await stream.receive()).assignment.assignment_id == str(target.assignment_id)


async def test_a_report_about_another_nodes_assignment_is_refused_audited_and_ends_the_stream(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    owner = await enrolled_node(scheduler, auth_stack, users)
    intruder = await enrolled_node(scheduler, auth_stack, users)
    target = await assign(scheduler, owner)
    rid = f"edge-{uuid.uuid4().hex}"
    async with connect(scheduler, intruder, rid) as stream:
        await stream.hello(intruder)
        await eventually(lambda: _online(inventory, intruder.node_id), "hello to be processed")
        result = agent_pb.TaskResult(
            assignment_id=str(target.assignment_id), attempt=1, state=agent_pb.TASK_STATE_FAILED
        )
        await stream.send(result=result)
        code, _ = await stream.closed_with()
    assert code == grpc.StatusCode.PERMISSION_DENIED
    records = await audit_by_request(auth_stack, users.admin, rid)
    denied = [r for r in records if r.result == auth_pb.AUDIT_RESULT_DENIED]
    assert [r.action for r in denied] == ["assignment.report"]
    assert denied[0].target == f"assignment:{target.assignment_id}"
    assert denied[0].actor == f"agent:{intruder.node_id}"
    async with scheduler.db.transaction() as session:
        row = await session.get(Target, (target.deployment_id, target.server_id, 1))
    assert row is not None and (row.state, row.reported) == ("assigned", False)


async def test_a_revoked_node_loses_its_open_stream_and_is_refused_afterwards(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        await eventually(lambda: _online(inventory, node.node_id), "hello to be processed")
        await _revoke(scheduler, users.operator, node.node_id, "lost laptop")
        code, before = await stream.closed_with()
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert [m.disconnect.reason for m in before if m.HasField("disconnect")] == [
        "this node was revoked: lost laptop"
    ]
    assert (await server_of(inventory, node.node_id)).status == inv_pb.SERVER_STATUS_REVOKED

    rid = f"edge-{uuid.uuid4().hex}"
    async with connect(scheduler, node, rid) as stream:
        await stream.hello(node)
        code, _ = await stream.closed_with()
    assert code == grpc.StatusCode.PERMISSION_DENIED
    records = await audit_by_request(auth_stack, users.admin, rid)
    assert [(r.action, r.result) for r in records] == [("agent.connect", auth_pb.AUDIT_RESULT_DENIED)]

    _, key = new_key()
    async with channel_to(scheduler.agent_target, scheduler.pki_dir, node) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await agent_grpc.AgentServiceStub(channel).Renew(
                agent_pb.RenewRequest(csr_pem=csr_for(key)), timeout=10
            )
    assert failed.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def _revoke(scheduler: Scheduler, token: str, node_id: str, reason: str) -> None:
    """RevokeServer as the core's servicer runs it: within a call that carries the user's token."""
    user = scheduler.process.keys.verifier.verify(token)  # type: ignore[union-attr]
    gateway = Principal(kind="service", subject="gateway", role="service", name="gateway")
    use_call(
        CallContext(
            request_id=f"revoke-{uuid.uuid4().hex}",
            user=user,
            peer=gateway,
            metadata={"authorization": f"Bearer {token}"},
        )
    )
    try:
        await scheduler.edge.revoke(node_id, reason)
    finally:
        use_call(CallContext())


async def test_a_viewer_may_not_revoke_and_the_refusal_is_audited(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    with pytest.raises(PermissionDenied):
        await _revoke(scheduler, users.viewer, node.node_id, "")
    assert await scheduler.edge.book.revocation(node.node_id) is None


async def test_a_second_stream_of_a_node_replaces_the_first(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    async with connect(scheduler, node) as first:
        await first.hello(node)
        await eventually(lambda: _online(inventory, node.node_id), "hello to be processed")
        async with connect(scheduler, node) as second:
            await second.hello(node)
            code, before = await first.closed_with()
            assert code == grpc.StatusCode.OK
            assert before[-1].disconnect.reason == "a newer stream of this node replaced this one"
            target = await assign(scheduler, node)
            assert (await second.receive()).assignment.assignment_id == str(target.assignment_id)


async def test_a_lost_stream_marks_the_server_offline_after_the_grace(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        await stream.send(heartbeat=agent_pb.Heartbeat())
        await eventually(lambda: _online(inventory, node.node_id), "hello to be processed")

    async def offline() -> bool:
        return (await server_of(inventory, node.node_id)).status == inv_pb.SERVER_STATUS_OFFLINE

    await eventually(offline, "the server to go offline")

    async def recorded() -> bool:
        # Inventory hears it first; the scheduler then notes that it has told it (once per silence).
        return (await node_row(scheduler, node.node_id)).offline_at is not None

    await eventually(recorded, "the scheduler to record the offline report")


async def test_messages_before_hello_are_refused(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    async with connect(scheduler, node) as stream:
        await stream.send(heartbeat=agent_pb.Heartbeat())
        code, _ = await stream.closed_with()
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_service_certificate_or_none_cannot_connect(scheduler: Scheduler) -> None:
    # The enrollment port asks for no client certificate and serves Enroll alone: no Connect there.
    async with channel_to(scheduler.enroll_target, scheduler.pki_dir) as channel:
        call = agent_grpc.AgentServiceStub(channel).Connect()
        assert await asyncio.wait_for(call.code(), WAIT) == grpc.StatusCode.UNIMPLEMENTED
    # The agent port trusts the node CA only: a service certificate fails the handshake.
    files = scheduler.settings.tls_files("inventory")
    assert files is not None
    cert, key, ca = files.read()
    credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    options = [("grpc.ssl_target_name_override", "scheduler")]
    async with grpc.aio.secure_channel(scheduler.agent_target, credentials, options=options) as channel:
        call = agent_grpc.AgentServiceStub(channel).Connect()
        assert await asyncio.wait_for(call.code(), WAIT) == grpc.StatusCode.UNAVAILABLE


# --- leases, deadlines, revocation and failures of the push -----------------------------------------


async def _row(scheduler: Scheduler, target: Target) -> Target:
    async with scheduler.db.transaction() as session:
        row = await session.get(Target, (target.deployment_id, target.server_id, target.attempt))
    assert row is not None
    return row


async def _set(scheduler: Scheduler, target: Target, **values: Any) -> None:
    async with scheduler.db.transaction() as session:
        row = await session.get(Target, (target.deployment_id, target.server_id, target.attempt))
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


async def test_heartbeats_keep_the_lease_of_the_nodes_work(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    now = datetime.now(UTC)
    target = await assign(scheduler, node)
    soon = now + timedelta(seconds=2)
    await _set(scheduler, target, pushed_at=now, deadline=now + timedelta(hours=1), lease_until=soon)
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        await stream.receive()  # the assignment
        await stream.send(heartbeat=agent_pb.Heartbeat())

        async def extended() -> bool:
            row = await _row(scheduler, target)
            return row.lease_until is not None and row.lease_until > soon + timedelta(seconds=10)

        await eventually(extended, "the heartbeat to extend the lease")


async def test_the_deadline_starts_when_the_node_first_gets_the_assignment(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    now = datetime.now(UTC)
    target = await assign(scheduler, node)
    # Assigned long ago, while the node was away.
    await _set(
        scheduler, target, deadline=now - timedelta(minutes=5), lease_until=now + timedelta(seconds=20)
    )
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        assignment = (await stream.receive()).assignment
    deadline = assignment.deadline.ToDatetime(tzinfo=UTC)
    assert deadline >= now + timedelta(seconds=scheduler.settings.task_deadline_seconds)
    row = await _row(scheduler, target)
    assert row.pushed_at is not None and row.deadline == deadline
    assert row.lease_until is not None and row.lease_until > deadline


async def test_a_revoked_nodes_work_in_flight_fails(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    target = await assign(scheduler, node)
    await _revoke(scheduler, users.operator, node.node_id, "stolen")
    row = await _row(scheduler, target)
    assert (row.state, row.message) == ("failed", "node revoked")
    assert row.finished_at is not None


async def test_a_revocation_during_connect_closes_the_new_stream(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    connection = await asyncpg.connect(plain_dsn(scheduler.database_url))
    transaction = connection.transaction()
    await transaction.start()
    committed = False
    try:
        # Holds the stream's revocation check until the revocation below is committed.
        await connection.execute("LOCK TABLE scheduler.nodes IN ACCESS EXCLUSIVE MODE")
        async with connect(scheduler, node) as stream:
            await stream.hello(node)

            async def registered() -> bool:
                return scheduler.edge.sessions.get(node.node_id) is not None

            await eventually(registered, "the stream to be registered before its check", timeout=5)
            await connection.execute(
                "UPDATE scheduler.nodes SET revoked_at = now(), revoked_reason = 'race' WHERE node_id = $1",
                uuid.UUID(node.node_id),
            )
            await connection.execute("SELECT pg_notify('convoy_revoked', $1)", node.node_id)
            await transaction.commit()
            committed = True
            code, _ = await stream.closed_with()
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert scheduler.edge.sessions.get(node.node_id) is None
    finally:
        if not committed:
            await transaction.rollback()
        await connection.close()


async def test_a_failure_while_pushing_ends_the_stream_as_unavailable(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    target = await assign(scheduler, node)
    await _set(scheduler, target, deploy_profile={"restart_service": {"not": "a name"}})
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        code, _ = await stream.closed_with()
    assert code == grpc.StatusCode.UNAVAILABLE


async def test_a_success_of_a_replaced_attempt_still_reaches_inventory(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    name = f"replaced-{uuid.uuid4().hex[:8]}"
    target = await assign(scheduler, node, name=name, version="3.0")
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        assignment = (await stream.receive()).assignment
        await _set(scheduler, target, current=False)  # a retry replaced it meanwhile
        result = agent_pb.TaskResult(
            assignment_id=assignment.assignment_id,
            attempt=1,
            state=agent_pb.TASK_STATE_SUCCEEDED,
            installed_version="3.0",
        )
        await stream.send(result=result)
        assert (await stream.receive()).ack.assignment_id == assignment.assignment_id
    assert (await installed_of(inventory, node.node_id)).get(name) == "3.0"


# --- reports the scheduler cannot place, lost notifications, one LISTEN connection --------------------


async def test_a_result_of_an_assignment_the_scheduler_does_not_know_is_acknowledged(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    """E.g. after a database restore: the agent's journal holds a result the scheduler has no row for.
    Refusing it would end every stream the node opens (the agent sends it again after each hello)."""
    node = await enrolled_node(scheduler, auth_stack, users)
    owned = await assign(scheduler, node)
    forgotten = str(uuid.uuid4())
    rid = f"edge-{uuid.uuid4().hex}"
    async with connect(scheduler, node, rid) as stream:
        await stream.hello(node)
        assert (await stream.receive()).assignment.assignment_id == str(owned.assignment_id)
        progress = agent_pb.TaskProgress(
            assignment_id=forgotten, attempt=1, state=agent_pb.TASK_STATE_INSTALLING, percent=50
        )
        await stream.send(progress=progress)
        for assignment_id, attempt in ((forgotten, 1), ("not-an-id", 1), (str(owned.assignment_id), 7)):
            result = agent_pb.TaskResult(
                assignment_id=assignment_id, attempt=attempt, state=agent_pb.TASK_STATE_SUCCEEDED
            )
            await stream.send(result=result)
            ack = (await stream.receive()).ack
            assert (ack.assignment_id, ack.attempt) == (assignment_id, attempt)

        # The stream goes on: new work still arrives.
        later = await assign(scheduler, node, name="later-app", version="1.0")
        assert (await stream.receive()).assignment.assignment_id == str(later.assignment_id)
    row = await _row(scheduler, owned)
    assert (row.state, row.reported) == ("assigned", False)
    records = await audit_by_request(auth_stack, users.admin, rid)
    assert [r for r in records if r.result == auth_pb.AUDIT_RESULT_DENIED] == []


async def test_work_reaches_the_node_without_a_notification(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node = await enrolled_node(scheduler, auth_stack, users)
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        await eventually(lambda: _online(inventory, node.node_id), "hello to be processed")
        target = await assign(scheduler, node, notify=False)
        assert (await stream.receive()).assignment.assignment_id == str(target.assignment_id)


async def test_the_process_listens_on_one_connection(scheduler: Scheduler) -> None:
    async with scheduler.db.transaction() as session:
        listening = (
            await (await session.connection()).execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query LIKE 'LISTEN %'"
                )
            )
        ).scalar_one()
    assert listening == 1
