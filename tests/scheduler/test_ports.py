"""Each port of the scheduler serves only what its callers are for: SchedulerService on the internal port
(mutual TLS, service CA), Connect and Renew on the agent port (node certificates), Enroll on the
enrollment port (no client certificate). A user's token reaches SchedulerService only with the gateway's
certificate; on the other ports the service is not there at all."""

import functools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from convoy.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from tests.scheduler.rollout_helpers import create
from tests.support.auth_process import SERVING, health_status
from tests.support.scheduler import Fleet, SchedulerStack, eventually
from tests.support.stack import AuthStack, NodeIdentity, enroll_node
from tests.support.users import Users, grpc_auth

UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED


@asynccontextmanager
async def without_certificate(target: str, pki_dir: Path) -> AsyncIterator[grpc.aio.Channel]:
    """Server-only TLS, as an agent that has not enrolled yet (or anyone holding a user's token)."""
    credentials = grpc.ssl_channel_credentials(root_certificates=(pki_dir / "ca.pem").read_bytes())
    options = [("grpc.ssl_target_name_override", "scheduler")]
    async with grpc.aio.secure_channel(target, credentials, options=options) as channel:
        yield channel


@pytest.fixture(scope="module")
async def node(auth_stack: AuthStack, users: Users) -> NodeIdentity:
    return await enroll_node(auth_stack, users.operator)


async def _scheduler_codes(channel: grpc.aio.Channel, fleet: Fleet, token: str) -> dict[str, grpc.StatusCode]:
    """What ListDeployments, CreateDeployment and RevokeServer answer a caller with `token` on `channel`."""
    server = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"port-{uuid.uuid4().hex[:8]}", "1.0")
    stub = pb_grpc.SchedulerServiceStub(channel)
    target = inv_pb.Target(server_id=server)
    calls = {
        "ListDeployments": stub.ListDeployments(
            pb.ListDeploymentsRequest(), metadata=grpc_auth(token), timeout=10
        ),
        "CreateDeployment": stub.CreateDeployment(
            pb.CreateDeploymentRequest(package_id=package.id, action=pb.ACTION_INSTALL, target=target),
            metadata=grpc_auth(token),
            timeout=10,
        ),
        "RevokeServer": stub.RevokeServer(
            pb.RevokeServerRequest(server_id=server, reason="test"), metadata=grpc_auth(token), timeout=10
        ),
    }
    return {name: await call.code() for name, call in calls.items()}


async def _agent_codes(channel: grpc.aio.Channel) -> dict[str, grpc.StatusCode]:
    """What each AgentService call answers on `channel` to a request it must refuse: an empty one, or a
    stream that does not begin with Hello. Served, that is a refusal; not served, UNIMPLEMENTED."""
    stub = agent_grpc.AgentServiceStub(channel)
    heartbeat = agent_pb.AgentMessage(heartbeat=agent_pb.Heartbeat())
    return {
        "Enroll": await stub.Enroll(agent_pb.EnrollRequest(), timeout=10).code(),
        "Renew": await stub.Renew(agent_pb.RenewRequest(), timeout=10).code(),
        "Connect": await stub.Connect(iter([heartbeat]), timeout=10).code(),
    }


async def test_scheduler_service_is_not_served_on_the_enrollment_port(
    scheduler: SchedulerStack, fleet: Fleet, users: Users, pki_dir: Path
):
    async with without_certificate(scheduler.enroll_target, pki_dir) as channel:
        codes = await _scheduler_codes(channel, fleet, users.admin)
    assert set(codes.values()) == {UNIMPLEMENTED}, codes


async def test_scheduler_service_is_not_served_on_the_agent_port(
    scheduler: SchedulerStack, fleet: Fleet, users: Users, node: NodeIdentity
):
    async with node.channel(scheduler.agent_target, "scheduler") as channel:
        codes = await _scheduler_codes(channel, fleet, users.admin)
    assert set(codes.values()) == {UNIMPLEMENTED}, codes


async def test_the_internal_port_lets_in_neither_a_bare_token_nor_a_node_certificate(
    scheduler: SchedulerStack, fleet: Fleet, users: Users, pki_dir: Path, node: NodeIdentity
):
    async with without_certificate(scheduler.target, pki_dir) as channel:
        bare = await _scheduler_codes(channel, fleet, users.admin)
    async with node.channel(scheduler.target, "scheduler") as channel:
        as_node = await _scheduler_codes(channel, fleet, users.admin)
    # The TLS handshake fails: the internal port asks for a certificate of the service CA.
    assert set(bare.values()) == set(as_node.values()) == {grpc.StatusCode.UNAVAILABLE}, (bare, as_node)


async def test_agent_service_is_not_served_on_the_internal_port(scheduler: SchedulerStack):
    async with scheduler.channel("gateway") as channel:
        codes = await _agent_codes(channel)
    assert set(codes.values()) == {UNIMPLEMENTED}, codes


async def test_enroll_is_served_only_on_the_enrollment_port_and_connect_and_renew_only_on_the_agent_port(
    scheduler: SchedulerStack, pki_dir: Path, node: NodeIdentity
):
    async with without_certificate(scheduler.enroll_target, pki_dir) as channel:
        enrollment = await _agent_codes(channel)
    async with node.channel(scheduler.agent_target, "scheduler") as channel:
        agent = await _agent_codes(channel)

    assert enrollment == {
        "Enroll": grpc.StatusCode.INVALID_ARGUMENT,  # served: "token and csr_pem are required"
        "Renew": UNIMPLEMENTED,
        "Connect": UNIMPLEMENTED,
    }
    assert agent == {
        "Enroll": UNIMPLEMENTED,
        "Renew": grpc.StatusCode.INVALID_ARGUMENT,  # served: "csr_pem is required"
        "Connect": grpc.StatusCode.INVALID_ARGUMENT,  # served: "the first message … must be hello"
    }


async def test_the_agent_ports_answer_health_checks_and_no_reflection(
    scheduler: SchedulerStack, pki_dir: Path, node: NodeIdentity
):
    service = "convoy.agent.v1.AgentService"
    reflect = reflection_pb2.ServerReflectionRequest(list_services="")
    async with without_certificate(scheduler.enroll_target, pki_dir) as enrollment:
        async with node.channel(scheduler.agent_target, "scheduler") as agent:
            for channel in (enrollment, agent):
                await eventually(functools.partial(_serving, channel, service), what=f"{service} SERVING")
                listing = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                    iter([reflect]), timeout=10
                )
                assert await listing.code() == UNIMPLEMENTED


async def _serving(channel: grpc.aio.Channel, service: str) -> bool:
    return await health_status(channel, service) == SERVING


async def test_the_gateway_with_a_token_still_gets_in(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"port-{uuid.uuid4().hex[:8]}", "1.0")
    created = await create(client, users.operator, package.id, inv_pb.Target(server_id=node))
    reply = await client.ListDeployments(
        pb.ListDeploymentsRequest(package_id=package.id), metadata=grpc_auth(users.viewer), timeout=10
    )
    assert [deployment.id for deployment in reply.deployments] == [created.id]
    assert reply.total_size == 1
