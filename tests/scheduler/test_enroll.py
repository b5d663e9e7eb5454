"""Enroll and Renew through the scheduler's edge: real auth signs, real inventory records, tokens are single-use."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from devstack.postgres import LocalPostgres
from tests.scheduler.test_edge import (
    Scheduler,
    channel_to,
    connect,
    csr_for,
    enroll,
    join_token,
    new_key,
    server_of,
    start_scheduler,
)
from tests.support.inventory import InventoryStack
from tests.support.stack import AuthStack
from tests.support.users import Users, audit_by_request, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def scheduler(
    postgres: LocalPostgres, auth_stack: AuthStack, inventory: InventoryStack
) -> AsyncIterator[Scheduler]:
    async with start_scheduler(
        postgres, auth_stack, inventory, agent_advertise="agents.example:50057"
    ) as stack:
        yield stack


async def new_group(inventory: InventoryStack, users: Users) -> str:
    async with inventory.stub("gateway") as stub:
        request = inv_pb.CreateGroupRequest(name=f"g{uuid.uuid4().hex[:12]}")
        return (await stub.CreateGroup(request, metadata=grpc_auth(users.operator), timeout=10)).group.id


async def members(inventory: InventoryStack, users: Users, group_id: str) -> list[str]:
    async with inventory.stub("gateway") as stub:
        request = inv_pb.ListGroupMembersRequest(group_id=group_id)
        reply = await stub.ListGroupMembers(request, metadata=grpc_auth(users.viewer), timeout=10)
    return [server.id for server in reply.servers]


async def test_enroll_gives_a_client_certificate_for_the_id_the_server_chose_and_records_the_server(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    group_id = await new_group(inventory, users)
    node, reply = await enroll(scheduler, await join_token(auth_stack, users, group_ids=[group_id]))

    certificate = x509.load_pem_x509_certificate(node.certificate_pem)
    uuid.UUID(node.node_id)
    assert (
        certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == node.node_id
    )  # not "admin"
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert reply.ca_certificate_pem == (scheduler.pki_dir / "ca.pem").read_text()
    assert reply.agent_address == "agents.example:50057"
    assert reply.HasField("not_after")

    server = await server_of(inventory, node.node_id)
    assert (server.ip_address, server.hostname, server.status) == (
        node.ip,
        f"node-{node.ip.replace('.', '-')}",
        # Enrolled, but its agent has not connected yet.
        inv_pb.SERVER_STATUS_PENDING,
    )
    assert server.os.package_family == inv_pb.PACKAGE_FAMILY_RPM
    assert await members(inventory, users, group_id) == [node.node_id]


async def test_a_used_token_is_refused_and_audited(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users
) -> None:
    token = await join_token(auth_stack, users)
    await enroll(scheduler, token)
    rid = f"enroll-{uuid.uuid4().hex}"
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await enroll(scheduler, token, rid=rid)
    assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert failed.value.details() == "join token is unknown, used up, expired or revoked"
    records = await audit_by_request(auth_stack, users.admin, rid)
    assert [(r.action, r.result, r.reason) for r in records] == [
        ("node.enroll", auth_pb.AUDIT_RESULT_DENIED, "used token")
    ]


async def test_an_unknown_token_or_a_missing_csr_is_refused(scheduler: Scheduler) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await enroll(scheduler, "cvj_" + "x" * 43)
    assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED
    async with channel_to(scheduler.enroll_target, scheduler.pki_dir) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await agent_grpc.AgentServiceStub(channel).Enroll(
                agent_pb.EnrollRequest(token="cvj_x"), timeout=10
            )
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_renew_signs_a_new_key_for_the_same_node_and_the_new_certificate_connects(
    scheduler: Scheduler, auth_stack: AuthStack, users: Users, inventory: InventoryStack
) -> None:
    node, _ = await enroll(scheduler, await join_token(auth_stack, users))
    key_pem, key = new_key()
    async with channel_to(scheduler.agent_target, scheduler.pki_dir, node) as channel:
        reply = await agent_grpc.AgentServiceStub(channel).Renew(
            agent_pb.RenewRequest(csr_pem=csr_for(key, "someone-else")), timeout=10
        )
    renewed = x509.load_pem_x509_certificate(reply.certificate_pem.encode())
    assert renewed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == node.node_id
    node.key_pem, node.certificate_pem = key_pem, reply.certificate_pem.encode()
    async with connect(scheduler, node) as stream:
        await stream.send(
            heartbeat=agent_pb.Heartbeat()
        )  # before hello: refused, but only after the handshake
        code, _ = await stream.closed_with()
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_renew_is_not_served_on_the_enrollment_port(scheduler: Scheduler) -> None:
    # Only the agent port serves Renew, and its TLS handshake asks for a node certificate.
    _, key = new_key()
    async with channel_to(scheduler.enroll_target, scheduler.pki_dir) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await agent_grpc.AgentServiceStub(channel).Renew(
                agent_pb.RenewRequest(csr_pem=csr_for(key)), timeout=10
            )
    assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED
