"""SchedulerService is for certificate-bearing services only, whichever port of the process a call reaches:
a user's token without the gateway's certificate (the enrollment port) or a node certificate (the agent
port) gets nowhere."""

import uuid
from pathlib import Path

import grpc
import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from convoy.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from tests.scheduler.rollout_helpers import create
from tests.support.scheduler import Fleet, SchedulerStack
from tests.support.stack import AuthStack, enroll_node
from tests.support.users import Users, grpc_auth


def _calls(stub: pb_grpc.SchedulerServiceStub, node: str, package_id: str) -> list:
    create = pb.CreateDeploymentRequest(
        package_id=package_id, action=pb.ACTION_INSTALL, target=inv_pb.Target(server_id=node)
    )
    return [
        ("ListDeployments", stub.ListDeployments, pb.ListDeploymentsRequest()),
        ("CreateDeployment", stub.CreateDeployment, create),
        ("RevokeServer", stub.RevokeServer, pb.RevokeServerRequest(server_id=node, reason="test")),
    ]


async def _codes(stub, node: str, package_id: str, token: str) -> dict[str, grpc.StatusCode]:
    codes = {}
    for name, method, request in _calls(stub, node, package_id):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await method(request, metadata=grpc_auth(token), timeout=10)
        codes[name] = caught.value.code()
    return codes


async def test_a_token_without_a_service_certificate_is_refused_on_the_enrollment_port(
    scheduler: SchedulerStack, fleet: Fleet, users: Users, pki_dir: Path
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"port-{uuid.uuid4().hex[:8]}", "1.0")
    credentials = grpc.ssl_channel_credentials(root_certificates=(pki_dir / "ca.pem").read_bytes())
    options = [("grpc.ssl_target_name_override", "scheduler")]
    async with grpc.aio.secure_channel(scheduler.enroll_target, credentials, options=options) as channel:
        codes = await _codes(pb_grpc.SchedulerServiceStub(channel), node, package.id, users.admin)
    assert set(codes.values()) == {grpc.StatusCode.UNAUTHENTICATED}, codes


async def test_a_node_certificate_is_refused_on_the_agent_port(
    scheduler: SchedulerStack, fleet: Fleet, users: Users, auth_stack: AuthStack
):
    node = await fleet.server("deb", "x86_64")
    package = await fleet.package(f"port-{uuid.uuid4().hex[:8]}", "1.0")
    identity = await enroll_node(auth_stack, users.operator)
    async with identity.channel(scheduler.agent_target, "scheduler") as channel:
        codes = await _codes(pb_grpc.SchedulerServiceStub(channel), node, package.id, users.admin)
    refused = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}
    assert set(codes.values()) <= refused, codes


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
