"""Nodes download from a real transfer server with the certificate auth signed at enrollment, and only
what the scheduler granted them; every refusal of a node is audited."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from services.kit import grants, pki
from services.transfer.server import build
from tests.support.packages import build_deb
from tests.support.stack import AuthStack, NodeIdentity, enroll_node, node_csr
from tests.support.transfer import TransferStack, download_all, transfer_settings, upload_bytes, upload_file
from tests.support.users import Users, audit_by_request, grpc_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def stored(
    transfer_stack: TransferStack, users: Users, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, bytes]:
    """A deb a few chunks long, uploaded once for the module: (sha256, bytes)."""
    deb = build_deb(tmp_path_factory.mktemp("grants"), "granted", "1.0", payload_bytes=200_000)
    async with transfer_stack.channel() as channel:
        reply = await upload_file(
            pb_grpc.TransferServiceStub(channel), deb, metadata=grpc_auth(users.operator)
        )
    return reply.blob.sha256, deb.read_bytes()


@pytest.fixture(scope="module")
async def node(auth_stack: AuthStack, users: Users) -> NodeIdentity:
    return await enroll_node(auth_stack, users.operator)


@pytest.fixture(scope="module")
def scheduler(pki_dir: Path) -> pki.CertifiedKey:
    return pki.load_certified_key(pki_dir / "scheduler.pem", pki_dir / "scheduler-key.pem")


def grant_for(signer: pki.CertifiedKey, node_id: str, sha256: str, minutes: int = 10) -> str:
    return grants.issue_grant(signer, node_id=node_id, sha256=sha256, ttl=timedelta(minutes=minutes))


async def node_download(
    transfer: TransferStack, node: NodeIdentity, sha256: str, grant: str, *, rid: str = "", offset: int = 0
) -> bytes:
    request = pb.DownloadRequest(sha256=sha256, offset=offset, grant=grant)
    metadata = (("x-request-id", rid),) if rid else ()
    body = []
    async with node.channel(transfer.target, "transfer") as channel:
        async for response in pb_grpc.TransferServiceStub(channel).Download(
            request, metadata=metadata, timeout=30
        ):
            if response.WhichOneof("payload") == "chunk":
                body.append(response.chunk)
    return b"".join(body)


async def test_a_granted_node_downloads_the_blob(
    transfer_stack: TransferStack, node: NodeIdentity, scheduler: pki.CertifiedKey, stored: tuple[str, bytes]
) -> None:
    sha256, data = stored
    grant = grant_for(scheduler, node.node_id, sha256)

    body = await node_download(transfer_stack, node, sha256, grant)
    rest = await node_download(transfer_stack, node, sha256, grant, offset=1000)

    assert body == data and rest == data[1000:]
    assert hashlib.sha256(body).hexdigest() == sha256


async def assert_refused_and_audited(
    auth: AuthStack,
    users: Users,
    transfer: TransferStack,
    node: NodeIdentity,
    sha256: str,
    grant: str,
    reason: str,
) -> None:
    rid = request_id()
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await node_download(transfer, node, sha256, grant, rid=rid)
    assert (failure.value.code(), failure.value.details()) == (grpc.StatusCode.PERMISSION_DENIED, reason)
    (record,) = await audit_by_request(auth, users.admin, rid)
    assert (record.action, record.target, record.result, record.reason) == (
        "blob.download",
        f"blob:{sha256}",
        auth_pb.AUDIT_RESULT_DENIED,
        reason,
    )
    assert (record.actor, record.source) == (f"agent:{node.node_id}", "transfer")


async def test_a_node_without_a_grant_is_refused_and_audited(
    auth_stack: AuthStack,
    users: Users,
    transfer_stack: TransferStack,
    node: NodeIdentity,
    stored: tuple[str, bytes],
) -> None:
    reason = "a download grant is required"
    await assert_refused_and_audited(auth_stack, users, transfer_stack, node, stored[0], "", reason)


async def test_a_grant_of_another_node_is_refused_and_audited(
    auth_stack: AuthStack,
    users: Users,
    transfer_stack: TransferStack,
    node: NodeIdentity,
    scheduler: pki.CertifiedKey,
    stored: tuple[str, bytes],
) -> None:
    sha256 = stored[0]
    other = await enroll_node(auth_stack, users.operator)
    grant = grant_for(scheduler, other.node_id, sha256)
    reason = "the download grant was issued to another node"

    await assert_refused_and_audited(auth_stack, users, transfer_stack, node, sha256, grant, reason)


async def test_a_blob_that_was_not_granted_is_refused_and_audited(
    auth_stack: AuthStack,
    users: Users,
    transfer_stack: TransferStack,
    node: NodeIdentity,
    scheduler: pki.CertifiedKey,
    stored: tuple[str, bytes],
) -> None:
    other_blob = hashlib.sha256(b"something else").hexdigest()
    grant = grant_for(scheduler, node.node_id, other_blob)
    reason = "the download grant is for another blob"

    await assert_refused_and_audited(auth_stack, users, transfer_stack, node, stored[0], grant, reason)


async def test_an_expired_grant_is_refused_and_audited(
    auth_stack: AuthStack,
    users: Users,
    transfer_stack: TransferStack,
    node: NodeIdentity,
    scheduler: pki.CertifiedKey,
    stored: tuple[str, bytes],
) -> None:
    grant = grant_for(scheduler, node.node_id, stored[0], minutes=-5)
    reason = "the download grant has expired"

    await assert_refused_and_audited(auth_stack, users, transfer_stack, node, stored[0], grant, reason)


async def test_a_grant_signed_by_another_service_is_refused(
    auth_stack: AuthStack,
    users: Users,
    transfer_stack: TransferStack,
    node: NodeIdentity,
    pki_dir: Path,
    stored: tuple[str, bytes],
) -> None:
    catalog = pki.load_certified_key(pki_dir / "catalog.pem", pki_dir / "catalog-key.pem")
    grant = grant_for(catalog, node.node_id, stored[0])
    reason = "the download grant was not signed by a trusted scheduler"

    await assert_refused_and_audited(auth_stack, users, transfer_stack, node, stored[0], grant, reason)


async def test_a_node_may_do_nothing_else_on_transfer(
    transfer_stack: TransferStack, node: NodeIdentity, stored: tuple[str, bytes]
) -> None:
    async with node.channel(transfer_stack.target, "transfer") as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        for call in (
            stub.Stat(pb.StatRequest(sha256=stored[0]), timeout=10),
            stub.ListBlobs(pb.ListBlobsRequest(), timeout=10),
            upload_bytes(stub, b"x" * 100, "sneaky.bin"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await call
            assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_services_still_download_without_a_grant(
    transfer_stack: TransferStack, stored: tuple[str, bytes]
) -> None:
    sha256, data = stored
    async with transfer_stack.channel("scheduler") as channel:
        _, body = await download_all(pb_grpc.TransferServiceStub(channel), sha256)
    assert body == data


async def test_a_node_certificate_from_another_ca_is_refused_by_the_handshake(
    transfer_stack: TransferStack, node: NodeIdentity, scheduler: pki.CertifiedKey, stored: tuple[str, bytes]
) -> None:
    impostor_ca = pki.create_ca(pki.NODE_CA_COMMON_NAME)
    key = ec.generate_private_key(ec.SECP256R1())
    forged = pki.sign_csr(impostor_ca, node_csr(key).encode(), node.node_id, lifetime=timedelta(hours=1))
    impostor = NodeIdentity(node.node_id, key, forged.cert_pem(), node.ca_pem)

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await node_download(
            transfer_stack, impostor, stored[0], grant_for(scheduler, node.node_id, stored[0])
        )

    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_an_expired_node_certificate_is_refused_by_the_handshake(
    transfer_stack: TransferStack,
    node: NodeIdentity,
    scheduler: pki.CertifiedKey,
    pki_dir: Path,
    stored: tuple[str, bytes],
) -> None:
    node_ca = pki.load_certified_key(pki_dir / "node-ca.pem", pki_dir / "node-ca-key.pem")
    expired = pki.sign_csr(node_ca, node_csr(node.key).encode(), node.node_id, lifetime=timedelta(minutes=-1))
    stale = NodeIdentity(node.node_id, node.key, expired.cert_pem(), node.ca_pem)

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await node_download(transfer_stack, stale, stored[0], grant_for(scheduler, node.node_id, stored[0]))

    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_configured_node_ca_that_is_missing_stops_transfer_at_once(
    pki_dir: Path, tmp_path: Path
) -> None:
    settings = transfer_settings(
        "postgresql+asyncpg://convoy@127.0.0.1:1/none",
        pki_dir,
        tmp_path / "artifacts",
        "127.0.0.1:1",
        node_ca=tmp_path / "missing.pem",
    )

    with pytest.raises(ValueError, match="cannot load the node CA"):
        build(settings)
