"""Re-enrolling a node id hands it to a new holder: the certificates of the one before, still days from
expiry, no longer connect or renew; the new holder's certificates, renewed ones included, keep working. Also
the edge's own limits: auth's enrollment throttle reaches the agent as RESOURCE_EXHAUSTED, the revocation
reason has auth's limit, and a node CA that is the service CA is refused at start."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from devstack.postgres import LocalPostgres
from services.kit import pki
from services.kit.errors import InvalidArgument
from services.scheduler.config import SchedulerSettings
from services.scheduler.server import SchedulerProcess
from tests.scheduler.test_edge import (
    Node,
    Scheduler,
    _revoke,
    channel_to,
    connect,
    csr_for,
    enroll,
    eventually,
    new_key,
    node_row,
    start_scheduler,
)
from tests.support.inventory import InventoryStack
from tests.support.stack import (
    AuthStack,
    auth_settings,
    earlier_certificate,
    fresh_database,
    service_settings,
    start_auth,
)
from tests.support.users import Users, audit_by_request, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Failed enrollments from one address before auth blocks it (every test enrolls from 127.0.0.1).
ENROLL_FAILURES = 3


@pytest.fixture(scope="module")
async def auth_stack(
    postgres: LocalPostgres, pki_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AuthStack]:
    """This module's auth server blocks an address after a few failed enrollments."""
    url = await fresh_database(postgres, "auth")
    key_file = tmp_path_factory.mktemp("keys") / "jwt.pem"
    settings = auth_settings(url, pki_dir, key_file, throttle_enroll_failures=ENROLL_FAILURES)
    async with start_auth(settings) as stack:
        yield stack


@pytest.fixture(scope="module")
async def scheduler(
    postgres: LocalPostgres, auth_stack: AuthStack, inventory: InventoryStack
) -> AsyncIterator[Scheduler]:
    async with start_scheduler(postgres, auth_stack, inventory) as stack:
        yield stack


def earlier_holder(pki_dir: Path, node_id: str, age: timedelta = timedelta(hours=2)) -> Node:
    key_pem, key = new_key()
    return Node(key_pem, node_id, earlier_certificate(pki_dir, node_id, key, age), ip="10.78.0.1")


async def token_for(auth: AuthStack, users: Users, server_id: str) -> str:
    async with auth.channel("gateway") as channel:
        reply = await auth_grpc.EnrollmentServiceStub(channel).CreateJoinToken(
            auth_pb.CreateJoinTokenRequest(server_id=server_id),
            metadata=grpc_auth(users.operator),
            timeout=10,
        )
    return reply.token


async def renew(scheduler: Scheduler, node: Node, rid: str = "") -> tuple[bytes, bytes]:
    """Renews as the agent does (a new key); the new key and certificate."""
    key_pem, key = new_key()
    metadata = (("x-request-id", rid),) if rid else ()
    async with channel_to(scheduler.agent_target, scheduler.pki_dir, node) as channel:
        reply = await agent_grpc.AgentServiceStub(channel).Renew(
            agent_pb.RenewRequest(csr_pem=csr_for(key)), metadata=metadata, timeout=10
        )
    return key_pem, reply.certificate_pem.encode()


async def connects(scheduler: Scheduler, node: Node) -> None:
    """A stream that takes hello and a heartbeat: the node is served."""
    async with connect(scheduler, node) as stream:
        await stream.hello(node)
        await stream.send(heartbeat=agent_pb.Heartbeat())

        async def registered() -> bool:
            return scheduler.edge.sessions.get(node.node_id) is not None

        await eventually(registered, "the stream to be served")


async def only_denial(auth: AuthStack, users: Users, rid: str) -> auth_pb.AuditRecord:
    (record,) = await audit_by_request(auth, users.admin, rid)
    assert record.result == auth_pb.AUDIT_RESULT_DENIED
    return record


async def test_the_certificates_of_an_earlier_enrollment_no_longer_connect_or_renew(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    server_id = str(uuid.uuid4())
    earlier = earlier_holder(scheduler.pki_dir, server_id)
    current, _ = await enroll(scheduler, await token_for(auth_stack, users, server_id))
    assert current.node_id == server_id
    row = await node_row(scheduler, server_id)
    assert row.enrolled_at is not None

    rid = f"connect-{uuid.uuid4().hex}"
    async with connect(scheduler, earlier, rid) as stream:
        await stream.hello(earlier)
        code, _ = await stream.closed_with()
    assert code == grpc.StatusCode.PERMISSION_DENIED
    record = await only_denial(auth_stack, users, rid)
    assert (record.action, record.target, record.reason) == (
        "agent.connect",
        f"node:{server_id}",
        pki.REPLACED_CERTIFICATE,
    )

    rid = f"renew-{uuid.uuid4().hex}"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await renew(scheduler, earlier, rid)
    assert (refused.value.code(), refused.value.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        pki.REPLACED_CERTIFICATE,
    )
    record = await only_denial(auth_stack, users, rid)
    assert (record.action, record.reason) == ("node.renew", pki.REPLACED_CERTIFICATE)

    # The new holder connects, renews, and its renewed certificate connects too.
    await connects(scheduler, current)
    current.key_pem, current.certificate_pem = await renew(scheduler, current)
    await connects(scheduler, current)


async def test_a_certificate_from_just_before_the_enrollment_still_connects(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    """Within the clock allowance: hosts whose clocks differ a little do not lock a node out."""
    node, _ = await enroll(scheduler, await token_for(auth_stack, users, str(uuid.uuid4())))
    recent = earlier_holder(scheduler.pki_dir, node.node_id, age=pki.CLOCK_SKEW + timedelta(seconds=20))

    await connects(scheduler, recent)


async def test_a_revocation_reason_longer_than_auths_limit_is_refused(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node, _ = await enroll(scheduler, await token_for(auth_stack, users, str(uuid.uuid4())))

    with pytest.raises(InvalidArgument, match="at most 500 characters"):
        await _revoke(scheduler, users.operator, node.node_id, "x" * 501)

    assert (await node_row(scheduler, node.node_id)).revoked_at is None
    await _revoke(scheduler, users.operator, node.node_id, "y" * 500)
    assert (await node_row(scheduler, node.node_id)).revoked_at is not None


async def test_enrollments_from_a_blocked_address_get_resource_exhausted_with_retry_after(
    scheduler: Scheduler,
) -> None:
    """Last in this module: it blocks 127.0.0.1 for the module's auth server."""
    for _ in range(ENROLL_FAILURES):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await enroll(scheduler, "cvj_" + "x" * 43)
        assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED

    with pytest.raises(grpc.aio.AioRpcError) as blocked:
        await enroll(scheduler, "cvj_" + "x" * 43)

    assert blocked.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry_after = dict(blocked.value.trailing_metadata() or ())["retry-after"]
    assert int(retry_after) > 0


async def test_a_node_ca_that_is_the_service_ca_is_refused_at_start(tmp_path: Path) -> None:
    pki_dir = tmp_path / "pki"
    pki.write_pki_dir(pki_dir, ["scheduler"])
    shutil.copy(pki_dir / "ca.pem", pki_dir / "node-ca.pem")
    shutil.copy(pki_dir / "ca-key.pem", pki_dir / "node-ca-key.pem")
    settings = SchedulerSettings(
        **service_settings(
            "postgresql+asyncpg://convoy@127.0.0.1:1/none",
            pki_dir,
            agent_listen="127.0.0.1:0",
            enroll_listen="127.0.0.1:0",
        )
    )

    with pytest.raises(ValueError, match="node CA must be a CA of its own"):
        SchedulerProcess(settings)
