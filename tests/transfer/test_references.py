"""References keep blobs alive: Delete is refused while they exist, the last one can take the blob along."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from services.kit.pagination import encode_token
from tests.support.packages import build_rpm, build_tarball
from tests.support.stack import AuthStack
from tests.support.transfer import TransferStack, upload_file
from tests.support.users import Users, audit_by_request, grpc_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")


def holder() -> str:
    return f"catalog.package:{uuid.uuid4()}"


async def stored_tarball(stack: TransferStack, users: Users, tmp_path: Path) -> pb.Blob:
    tarball = build_tarball(tmp_path, f"ref{uuid.uuid4().hex[:8]}", "1.0")
    async with stack.channel() as channel:
        reply = await upload_file(
            pb_grpc.TransferServiceStub(channel), tarball, metadata=grpc_auth(users.operator)
        )
    return reply.blob


def blob_file(stack: TransferStack, sha256: str) -> Path:
    return stack.storage_root / "sha256" / sha256[:2] / sha256[2:4] / sha256


async def test_delete_is_refused_while_referenced_and_allowed_after(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    blob, owner = await stored_tarball(transfer_stack, users, tmp_path), holder()
    async with transfer_stack.channel("catalog") as catalog, transfer_stack.channel() as gateway:
        service, user = pb_grpc.TransferServiceStub(catalog), pb_grpc.TransferServiceStub(gateway)
        added = await service.AddReference(pb.AddReferenceRequest(sha256=blob.sha256, holder=owner))
        again = await service.AddReference(pb.AddReferenceRequest(sha256=blob.sha256, holder=owner))
        assert added.blob.reference_count == again.blob.reference_count == 1
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await user.Delete(pb.DeleteRequest(sha256=blob.sha256), metadata=grpc_auth(users.operator))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert owner in refused.value.details()
        assert blob_file(transfer_stack, blob.sha256).exists()
        removed = await service.RemoveReference(pb.RemoveReferenceRequest(sha256=blob.sha256, holder=owner))
        assert not removed.deleted
        stat = await user.Stat(pb.StatRequest(sha256=blob.sha256), metadata=grpc_auth(users.viewer))
        assert stat.blob.reference_count == 0
        await user.Delete(pb.DeleteRequest(sha256=blob.sha256), metadata=grpc_auth(users.operator))
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await user.Stat(pb.StatRequest(sha256=blob.sha256), metadata=grpc_auth(users.viewer))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert not blob_file(transfer_stack, blob.sha256).exists()


async def test_removing_the_last_reference_can_delete_the_blob(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    blob, first, second = await stored_tarball(transfer_stack, users, tmp_path), holder(), holder()
    async with transfer_stack.channel("catalog") as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        for owner in (first, second):
            await stub.AddReference(pb.AddReferenceRequest(sha256=blob.sha256, holder=owner))
        request = pb.RemoveReferenceRequest(sha256=blob.sha256, holder=first, delete_unreferenced=True)
        assert not (await stub.RemoveReference(request)).deleted
        assert blob_file(transfer_stack, blob.sha256).exists()
        request = pb.RemoveReferenceRequest(sha256=blob.sha256, holder=second, delete_unreferenced=True)
        assert (await stub.RemoveReference(request)).deleted
        assert not blob_file(transfer_stack, blob.sha256).exists()
        assert not (await stub.RemoveReference(request)).deleted  # idempotent
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await stub.Stat(pb.StatRequest(sha256=blob.sha256))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_same_bytes_can_be_stored_again_after_deletion(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    tarball = build_tarball(tmp_path, f"again{uuid.uuid4().hex[:8]}", "1.0")
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        first = await upload_file(stub, tarball, metadata=grpc_auth(users.operator))
        await stub.Delete(pb.DeleteRequest(sha256=first.blob.sha256), metadata=grpc_auth(users.admin))
        second = await upload_file(stub, tarball, metadata=grpc_auth(users.operator))
    assert first.created and second.created
    assert blob_file(transfer_stack, second.blob.sha256).read_bytes() == tarball.read_bytes()


async def test_users_cannot_change_references_and_the_denial_is_audited(
    transfer_stack: TransferStack, auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    blob, rid = await stored_tarball(transfer_stack, users, tmp_path), request_id("rid")
    async with transfer_stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.TransferServiceStub(channel).AddReference(
                pb.AddReferenceRequest(sha256=blob.sha256, holder=holder()),
                metadata=grpc_auth(users.admin, rid),
            )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    records = await audit_by_request(auth_stack, users.admin, rid)
    assert [(r.action, r.result) for r in records] == [("blob.reference.add", auth_pb.AUDIT_RESULT_DENIED)]


async def test_a_viewer_cannot_delete(transfer_stack: TransferStack, users: Users, tmp_path: Path) -> None:
    blob = await stored_tarball(transfer_stack, users, tmp_path)
    async with transfer_stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.TransferServiceStub(channel).Delete(
                pb.DeleteRequest(sha256=blob.sha256), metadata=grpc_auth(users.viewer)
            )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert blob_file(transfer_stack, blob.sha256).exists()


@pytest.mark.parametrize(
    ("sha256", "owner", "code"),
    [
        ("0" * 64, "catalog.package:1", grpc.StatusCode.NOT_FOUND),
        ("nothex", "catalog.package:1", grpc.StatusCode.INVALID_ARGUMENT),
        ("stored", "", grpc.StatusCode.INVALID_ARGUMENT),
        ("stored", "x" * 201, grpc.StatusCode.INVALID_ARGUMENT),
        ("stored", "catalog.package:\x00", grpc.StatusCode.INVALID_ARGUMENT),
        ("stored", "catalog.package:\n1", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
async def test_a_bad_reference_is_refused(
    transfer_stack: TransferStack,
    users: Users,
    tmp_path: Path,
    sha256: str,
    owner: str,
    code: grpc.StatusCode,
) -> None:
    if sha256 == "stored":
        sha256 = (await stored_tarball(transfer_stack, users, tmp_path)).sha256
    async with transfer_stack.channel("catalog") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.TransferServiceStub(channel).AddReference(
                pb.AddReferenceRequest(sha256=sha256, holder=owner)
            )
    assert refused.value.code() == code


async def test_blobs_are_listed_newest_first_page_by_page(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    uploaded = [(await stored_tarball(transfer_stack, users, tmp_path)).sha256 for _ in range(3)]
    rpm = build_rpm(tmp_path, f"listed{uuid.uuid4().hex[:8]}", "1.0")
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        rpm_sha = (await upload_file(stub, rpm, metadata=grpc_auth(users.operator))).blob.sha256
        listed, token = [], ""
        while True:
            request = pb.ListBlobsRequest(page_size=2, page_token=token, format=pb.ARTIFACT_FORMAT_TAR)
            page = await stub.ListBlobs(request, metadata=grpc_auth(users.viewer))
            listed += [blob.sha256 for blob in page.blobs]
            assert all(blob.format == pb.ARTIFACT_FORMAT_TAR for blob in page.blobs)
            if not (token := page.next_page_token):
                break
        rpms = await stub.ListBlobs(
            pb.ListBlobsRequest(format=pb.ARTIFACT_FORMAT_RPM), metadata=grpc_auth(users.viewer)
        )
    assert len(listed) == len(set(listed))
    assert [sha for sha in listed if sha in uploaded] == uploaded[::-1]
    assert rpm_sha not in listed and rpm_sha in [blob.sha256 for blob in rpms.blobs]


async def test_a_bad_page_token_or_format_is_the_callers_mistake(
    transfer_stack: TransferStack, users: Users
) -> None:
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        for request in (pb.ListBlobsRequest(page_token="garbage!"), pb.ListBlobsRequest(format=99)):  # type: ignore[arg-type]
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListBlobs(request, metadata=grpc_auth(users.viewer))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "position",
    [
        {"created_at": "2030-01-01T00:00:00+00:00", "sha256": "a\x00b"},
        {"created_at": "2030-01-01T00:00:00", "sha256": "a" * 64},
        {"created_at": 7, "sha256": "a" * 64},
    ],
    ids=["nul", "naive-time", "number"],
)
async def test_a_made_up_page_token_is_the_callers_mistake(
    transfer_stack: TransferStack, users: Users, position: dict[str, object]
) -> None:
    """Never INTERNAL: whatever a client puts in a token is checked before it reaches the database."""
    async with transfer_stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.TransferServiceStub(channel).ListBlobs(
                pb.ListBlobsRequest(page_token=encode_token(position)), metadata=grpc_auth(users.viewer)
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_page_token_works_only_with_the_filter_it_came_from(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    for _ in range(2):
        await stored_tarball(transfer_stack, users, tmp_path)
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        tars = pb.ListBlobsRequest(page_size=1, format=pb.ARTIFACT_FORMAT_TAR)
        token = (await stub.ListBlobs(tars, metadata=grpc_auth(users.viewer))).next_page_token
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListBlobs(
                pb.ListBlobsRequest(page_token=token, format=pb.ARTIFACT_FORMAT_RPM),
                metadata=grpc_auth(users.viewer),
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "other filters" in refused.value.details()
