"""A valid grant is not enough: transfer asks auth about the node, and refuses (audited) a revoked node, a
node auth never enrolled, and a certificate of an earlier enrollment of the node id."""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from services.kit import pki
from services.kit.tls import open_channel
from services.transfer.nodes import NodeStatuses
from services.transfer.server import build
from tests.support.packages import build_deb
from tests.support.stack import (
    AuthStack,
    NodeIdentity,
    create_join_token,
    earlier_certificate,
    enroll_node,
    redeem_join_token,
)
from tests.support.transfer import TransferStack, transfer_settings, upload_file
from tests.support.users import Users, audit_by_request, grpc_auth
from tests.transfer.test_grants import assert_refused_and_audited, grant_for, node_download

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def stored(
    transfer_stack: TransferStack, users: Users, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, bytes]:
    deb = build_deb(tmp_path_factory.mktemp("standing"), "standing", "1.0", payload_bytes=10_000)
    async with transfer_stack.channel() as channel:
        reply = await upload_file(
            pb_grpc.TransferServiceStub(channel), deb, metadata=grpc_auth(users.operator)
        )
    return reply.blob.sha256, deb.read_bytes()


@pytest.fixture(scope="module")
def scheduler(pki_dir: Path) -> pki.CertifiedKey:
    return pki.load_certified_key(pki_dir / "scheduler.pem", pki_dir / "scheduler-key.pem")


def signed_long_ago(pki_dir: Path, node_id: str, age: timedelta = timedelta(hours=2)) -> NodeIdentity:
    """What an earlier holder of `node_id` still has: a node certificate signed `age` ago."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = earlier_certificate(pki_dir, node_id, key, age)
    return NodeIdentity(node_id, key, certificate, (pki_dir / "ca.pem").read_bytes())


async def revoke(auth: AuthStack, users: Users, node_id: str) -> None:
    async with auth.channel("scheduler") as channel:
        await auth_grpc.EnrollmentServiceStub(channel).RevokeNode(
            auth_pb.RevokeNodeRequest(node_id=node_id, reason="stolen"),
            metadata=grpc_auth(users.operator),
            timeout=10,
        )


async def test_the_certificate_of_an_earlier_enrollment_is_refused_and_audited(
    auth_stack: AuthStack,
    users: Users,
    transfer_stack: TransferStack,
    scheduler: pki.CertifiedKey,
    stored: tuple[str, bytes],
) -> None:
    sha256, data = stored
    server_id = str(uuid.uuid4())
    earlier = signed_long_ago(auth_stack.pki_dir, server_id)
    current, _ = await redeem_join_token(
        auth_stack, (await create_join_token(auth_stack, users.operator, server_id=server_id)).token
    )
    grant = grant_for(scheduler, server_id, sha256)

    await assert_refused_and_audited(
        auth_stack, users, transfer_stack, earlier, sha256, grant, pki.REPLACED_CERTIFICATE
    )
    assert await node_download(transfer_stack, current, sha256, grant) == data


async def test_a_revoked_node_is_refused_and_audited(
    auth_stack: AuthStack,
    users: Users,
    transfer_stack: TransferStack,
    scheduler: pki.CertifiedKey,
    stored: tuple[str, bytes],
) -> None:
    sha256, _ = stored
    node = await enroll_node(auth_stack, users.operator)
    await revoke(auth_stack, users, node.node_id)
    grant = grant_for(scheduler, node.node_id, sha256)

    await assert_refused_and_audited(
        auth_stack, users, transfer_stack, node, sha256, grant, "this node is revoked"
    )


async def test_a_node_auth_never_enrolled_is_refused_and_audited(
    auth_stack: AuthStack,
    users: Users,
    transfer_stack: TransferStack,
    scheduler: pki.CertifiedKey,
    stored: tuple[str, bytes],
) -> None:
    sha256, _ = stored
    stranger = signed_long_ago(auth_stack.pki_dir, str(uuid.uuid4()), age=timedelta(minutes=1))
    grant = grant_for(scheduler, stranger.node_id, sha256)

    await assert_refused_and_audited(
        auth_stack, users, transfer_stack, stranger, sha256, grant, "this node is not enrolled"
    )


async def test_auths_answer_is_kept_a_few_seconds_for_a_bounded_number_of_nodes(
    auth_stack: AuthStack, users: Users, pki_dir: Path
) -> None:
    now = [0.0]
    first, second, third = [await enroll_node(auth_stack, users.operator) for _ in range(3)]
    async with open_channel(auth_stack.target, auth_stack.settings.tls_files("transfer")) as channel:
        statuses = NodeStatuses(channel, timeout=10, ttl=5, size=2, clock=lambda: now[0])
        assert (await statuses.get(first.node_id)).revoked is False
        await revoke(auth_stack, users, first.node_id)

        assert (await statuses.get(first.node_id)).revoked is False  # the cached answer
        now[0] = 5.0
        status = await statuses.get(first.node_id)
        assert (status.enrolled, status.revoked, status.enrolled_at is not None) == (True, True, True)

        await statuses.get(second.node_id)
        await statuses.get(third.node_id)
        assert len(statuses._answers) == 2 and first.node_id not in statuses._answers


async def test_a_node_cannot_choose_the_client_address_of_its_audit_records(
    auth_stack: AuthStack,
    users: Users,
    transfer_stack: TransferStack,
    stored: tuple[str, bytes],
) -> None:
    node = await enroll_node(auth_stack, users.operator)
    rid = f"forged-{uuid.uuid4().hex}"
    request = pb.DownloadRequest(sha256=stored[0], grant="")
    metadata = (("x-request-id", rid), ("x-client-address", "203.0.113.9"))
    async with node.channel(transfer_stack.target, "transfer") as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            async for _ in pb_grpc.TransferServiceStub(channel).Download(
                request, metadata=metadata, timeout=10
            ):
                pass

    (record,) = await audit_by_request(auth_stack, users.admin, rid)
    assert record.client_address.startswith("ipv4:127.0.0.1:")


async def test_transfer_refuses_to_start_when_the_node_ca_is_the_service_ca(
    auth_stack: AuthStack, tmp_path: Path
) -> None:
    pki_dir = tmp_path / "pki"
    pki.write_pki_dir(pki_dir, ["transfer"])
    shutil.copy(pki_dir / "ca.pem", pki_dir / "node-ca.pem")
    settings = transfer_settings(
        "postgresql+asyncpg://convoy@127.0.0.1:1/none", pki_dir, tmp_path / "store", auth_stack.target
    )

    with pytest.raises(ValueError, match="node CA must be a CA of its own"):
        build(settings)
