"""Uploads over mTLS to a real transfer server: inspection results, storing once, refusals, RBAC, audit."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.kit.tls import open_channel
from services.transfer.server import build
from services.transfer.storage import LocalStorage, StagedFile
from tests.support.packages import INSTALL_SCRIPT, build_deb, build_image_archive, build_rpm, build_tarball
from tests.support.stack import AuthStack
from tests.support.transfer import (
    TransferStack,
    download_all,
    send_upload,
    staged_files,
    stored_blobs,
    transfer_database,
    transfer_settings,
    upload_bytes,
    upload_file,
)
from tests.support.users import Users, audit_by_request, grpc_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def refused_upload(
    stack: TransferStack, path: Path, token: str, **options: object
) -> grpc.aio.AioRpcError:
    async with stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await upload_file(
                pb_grpc.TransferServiceStub(channel), path, metadata=grpc_auth(token), **options
            )  # type: ignore[arg-type]
    return refused.value


def rejections(reason: str) -> float:
    return REGISTRY.get_sample_value("convoy_transfer_upload_rejections_total", {"reason": reason}) or 0.0


async def test_an_operator_uploads_each_format_and_gets_its_inspection(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    name = unique("pkg")
    artifacts = {
        pb.ARTIFACT_FORMAT_DEB: build_deb(tmp_path, name, "1.0-1", "amd64", "bash"),
        pb.ARTIFACT_FORMAT_RPM: build_rpm(tmp_path, name, "2.0", "5"),
        pb.ARTIFACT_FORMAT_TAR: build_tarball(tmp_path, name, "3.0"),
        pb.ARTIFACT_FORMAT_CONTAINER: build_image_archive(tmp_path, f"registry:5000/team/{name}:4.0"),
    }
    expected = {
        pb.ARTIFACT_FORMAT_DEB: (name, "1.0-1", "", "x86_64", ["bash"]),
        pb.ARTIFACT_FORMAT_RPM: (name, "2.0", "5", "noarch", []),
        pb.ARTIFACT_FORMAT_TAR: (name, "3.0", "", "noarch", []),
        pb.ARTIFACT_FORMAT_CONTAINER: (name, "4.0", "", "x86_64", []),
    }
    async with transfer_stack.channel("gateway") as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        for declared, path in artifacts.items():
            reply = await upload_file(
                stub, path, metadata=grpc_auth(users.operator), declared_format=declared
            )
            seen = reply.inspection
            assert (seen.name, seen.version, seen.release, seen.arch, list(seen.depends)) == expected[
                declared
            ]
            assert reply.created and reply.blob.format == declared == seen.format
            assert reply.blob.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
            assert reply.blob.size == path.stat().st_size and reply.blob.filename == path.name
            stored = transfer_stack.storage_root / "sha256" / reply.blob.sha256[:2] / reply.blob.sha256[2:4]
            assert (stored / reply.blob.sha256).read_bytes() == path.read_bytes()
    assert staged_files(transfer_stack.storage_root) == []


async def test_a_service_may_upload_without_a_user_token(
    transfer_stack: TransferStack, tmp_path: Path
) -> None:
    image = build_image_archive(tmp_path, f"{unique('img')}:1", oci=True)
    async with transfer_stack.channel("catalog") as channel:
        reply = await upload_file(pb_grpc.TransferServiceStub(channel), image)
    assert reply.created and reply.inspection.format == pb.ARTIFACT_FORMAT_CONTAINER


async def test_the_same_bytes_are_stored_once(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    tarball = build_tarball(tmp_path, unique("twice"), "1.0")
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        first = await upload_file(stub, tarball, metadata=grpc_auth(users.operator))
        again = await upload_file(stub, tarball, metadata=grpc_auth(users.admin))
    assert (first.created, again.created) == (True, False)
    assert again.blob == first.blob
    assert again.inspection == first.inspection
    copies = [path for path in stored_blobs(transfer_stack.storage_root) if path.name == first.blob.sha256]
    assert len(copies) == 1
    assert staged_files(transfer_stack.storage_root) == []


async def test_the_upload_is_audited_once_when_it_stores_something(
    transfer_stack: TransferStack, auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    tarball = build_tarball(tmp_path, unique("audited"), "1.0")
    first_id, second_id = request_id("rid"), request_id("rid")
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        reply = await upload_file(stub, tarball, metadata=grpc_auth(users.operator, first_id))
        await upload_file(stub, tarball, metadata=grpc_auth(users.operator, second_id))
    (record,) = await audit_by_request(auth_stack, users.admin, first_id)
    assert (record.action, record.target, record.result) == (
        "blob.upload",
        f"blob:{reply.blob.sha256}",
        auth_pb.AUDIT_RESULT_SUCCESS,
    )
    assert record.actor == f"user:{users.operator_name}" and record.source == "transfer"
    assert await audit_by_request(auth_stack, users.admin, second_id) == []


async def test_a_viewer_cannot_upload_and_the_denial_is_audited(
    transfer_stack: TransferStack, auth_stack: AuthStack, users: Users, tmp_path: Path
) -> None:
    rid = request_id("rid")
    async with transfer_stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await upload_file(
                pb_grpc.TransferServiceStub(channel),
                build_tarball(tmp_path, unique("denied"), "1.0"),
                metadata=grpc_auth(users.viewer, rid),
            )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    (record,) = await audit_by_request(auth_stack, users.admin, rid)
    assert (record.action, record.result, record.actor) == (
        "blob.upload",
        auth_pb.AUDIT_RESULT_DENIED,
        f"user:{users.viewer_name}",
    )


async def test_a_deb_declared_as_rpm_is_refused(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, unique("liar"), "1.0")
    before = rejections("format_mismatch")
    refused = await refused_upload(
        transfer_stack, deb, users.operator, declared_format=pb.ARTIFACT_FORMAT_RPM
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.details() == "declared rpm but the content is a deb package"
    assert rejections("format_mismatch") == before + 1
    await assert_nothing_stored(transfer_stack, hashlib.sha256(deb.read_bytes()).hexdigest())


async def test_random_bytes_are_refused(transfer_stack: TransferStack, users: Users, tmp_path: Path) -> None:
    noise = tmp_path / "noise.tar.gz"
    noise.write_bytes(os.urandom(300_000))
    refused = await refused_upload(transfer_stack, noise, users.operator)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.details() == "not a deb, rpm, tar or container image archive"
    await assert_nothing_stored(transfer_stack, hashlib.sha256(noise.read_bytes()).hexdigest())


async def test_an_upload_over_the_limit_is_refused(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    limit = transfer_stack.settings.max_upload_bytes
    big = tmp_path / "big.tar"
    big.write_bytes(os.urandom(limit + 1))
    # Exactly one byte too many: the refusal comes once the last byte is in, and names the limit.
    refused = await refused_upload(transfer_stack, big, users.operator, size=0)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.details() == f"the upload exceeds the limit of {limit} bytes (max_upload_bytes)"
    await assert_nothing_stored(transfer_stack, hashlib.sha256(big.read_bytes()).hexdigest())


async def test_a_declared_size_over_the_limit_is_refused_before_any_byte(
    transfer_stack: TransferStack, users: Users
) -> None:
    limit = transfer_stack.settings.max_upload_bytes
    # Only the metadata is sent: the refusal must not wait for the bytes.
    announce = pb.UploadRequest(metadata=pb.UploadMetadata(filename="huge.tar", size=limit + 1))
    async with transfer_stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await send_upload(
                pb_grpc.TransferServiceStub(channel), [announce], metadata=grpc_auth(users.operator)
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        refused.value.details() == f"the declared size {limit + 1} exceeds the upload limit of {limit} bytes"
    )


async def test_a_wrong_declared_size_is_refused(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    tarball = build_tarball(tmp_path, unique("size"), "1.0")
    actual = tarball.stat().st_size
    short = await refused_upload(transfer_stack, tarball, users.operator, size=actual + 10)
    assert short.details() == f"the upload declared {actual + 10} bytes but sent {actual}"
    long = await refused_upload(transfer_stack, tarball, users.operator, size=actual - 10)
    assert long.details() == f"the upload has more bytes than its declared size {actual - 10}"
    await assert_nothing_stored(transfer_stack, hashlib.sha256(tarball.read_bytes()).hexdigest())


async def test_metadata_must_come_first_and_only_first(transfer_stack: TransferStack, users: Users) -> None:
    chunk_first = [pb.UploadRequest(chunk=b"data")]
    metadata_twice = [pb.UploadRequest(metadata=pb.UploadMetadata(filename=name)) for name in "ab"]
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        for requests, words in ((chunk_first, "must carry the metadata"), (metadata_twice, "only the first")):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await send_upload(stub, requests, metadata=grpc_auth(users.operator))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert words in refused.value.details()


async def test_an_empty_upload_is_refused(transfer_stack: TransferStack, users: Users) -> None:
    async with transfer_stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await upload_bytes(
                pb_grpc.TransferServiceStub(channel), b"", "empty.deb", metadata=grpc_auth(users.operator)
            )
    assert refused.value.details() == "the upload has no content"


async def test_a_cancelled_upload_leaves_nothing(transfer_stack: TransferStack, users: Users) -> None:
    root = transfer_stack.storage_root
    blobs_before = stored_blobs(root)
    never = asyncio.Event()

    async def requests() -> AsyncIterator[pb.UploadRequest]:
        yield pb.UploadRequest(metadata=pb.UploadMetadata(filename="cancelled.tar.gz"))
        yield pb.UploadRequest(chunk=os.urandom(100_000))
        await never.wait()

    async with transfer_stack.channel() as channel:
        call = pb_grpc.TransferServiceStub(channel).Upload(requests(), metadata=grpc_auth(users.operator))
        await wait_for(lambda: any(path.stat().st_size > 0 for path in staged_files(root)), "the temp file")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    await wait_for(lambda: staged_files(root) == [], "the temp file to be removed")
    assert stored_blobs(root) == blobs_before


async def wait_for(condition, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


async def assert_nothing_stored(stack: TransferStack, sha256: str) -> None:
    """No file, no temp file and no row for these bytes."""
    assert [path for path in stored_blobs(stack.storage_root) if path.name == sha256] == []
    assert staged_files(stack.storage_root) == []
    async with stack.channel("catalog") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await pb_grpc.TransferServiceStub(channel).Stat(pb.StatRequest(sha256=sha256))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_concurrent_uploads_of_the_same_bytes_store_one_blob(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    tarball = build_tarball(tmp_path, unique("race"), "1.0")
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        replies = await asyncio.gather(
            *(upload_file(stub, tarball, metadata=grpc_auth(users.operator)) for _ in range(4))
        )
    assert sorted(reply.created for reply in replies) == [False, False, False, True]
    assert len({reply.blob.sha256 for reply in replies}) == 1
    copies = [
        path for path in stored_blobs(transfer_stack.storage_root) if path.name == replies[0].blob.sha256
    ]
    assert len(copies) == 1 and copies[0].read_bytes() == tarball.read_bytes()


async def test_without_the_audit_log_nothing_is_stored(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    """No audit record, no change: an upload that cannot be audited leaves no row and no file."""
    settings = transfer_settings(
        await transfer_database(postgres), pki_dir, tmp_path / "artifacts", f"127.0.0.1:{free_port()}"
    )
    process = build(settings)
    port = await process.start()
    try:
        tarball = build_tarball(tmp_path, unique("unaudited"), "1.0")
        async with open_channel(f"127.0.0.1:{port}", settings.tls_files("catalog")) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await upload_file(pb_grpc.TransferServiceStub(channel), tarball)
    finally:
        await process.stop()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "audit log is unavailable" in refused.value.details()
    assert stored_blobs(settings.storage_root) == [] and staged_files(settings.storage_root) == []


async def test_a_message_without_a_payload_is_refused(transfer_stack: TransferStack, users: Users) -> None:
    requests = [pb.UploadRequest(metadata=pb.UploadMetadata(filename="x.tar")), pb.UploadRequest()]
    async with transfer_stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await send_upload(
                pb_grpc.TransferServiceStub(channel), requests, metadata=grpc_auth(users.operator)
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "every upload message after the first must carry a chunk"


async def test_uploading_the_same_bytes_again_repairs_a_damaged_file(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    """An operator whose disk lost part of a blob can put it right by uploading the package again."""
    tarball = build_tarball(
        tmp_path, unique("repair"), "1.0", {"install.sh": INSTALL_SCRIPT, "data": os.urandom(9000)}
    )
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        first = await upload_file(stub, tarball, metadata=grpc_auth(users.operator))
        stored = transfer_stack.storage_root / "sha256" / first.blob.sha256[:2] / first.blob.sha256[2:4]
        damaged = stored / first.blob.sha256
        damaged.chmod(0o644)
        damaged.write_bytes(tarball.read_bytes()[:1000])
        again = await upload_file(stub, tarball, metadata=grpc_auth(users.operator))
        _, body = await download_all(stub, first.blob.sha256, metadata=grpc_auth(users.viewer))
    assert not again.created
    assert body == tarball.read_bytes()


class SlowToStage(LocalStorage):
    """The real store, but making a temp file takes a while, as on a busy disk."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.entered, self.release, self.done = threading.Event(), threading.Event(), threading.Event()

    def stage(self) -> StagedFile:
        self.entered.set()
        self.release.wait(timeout=1)
        try:
            return super().stage()
        finally:
            self.done.set()


def active_uploads() -> float:
    return REGISTRY.get_sample_value("convoy_transfer_active_streams", {"direction": "upload"}) or 0.0


async def test_an_upload_cancelled_while_its_temp_file_is_made_leaves_nothing(
    transfer_stack: TransferStack, users: Users
) -> None:
    """The temp file appears only after the server has given up on the upload: it must still go."""
    root, core, before = transfer_stack.storage_root, transfer_stack.process.core, active_uploads()
    never = asyncio.Event()

    async def requests() -> AsyncIterator[pb.UploadRequest]:
        yield pb.UploadRequest(metadata=pb.UploadMetadata(filename="slow.tar.gz"))
        await never.wait()

    slow = core.storage = SlowToStage(root)
    try:
        async with transfer_stack.channel() as channel:
            call = pb_grpc.TransferServiceStub(channel).Upload(requests(), metadata=grpc_auth(users.operator))
            await wait_for(slow.entered.is_set, "the upload to start making its temp file")
            call.cancel()
            await wait_for(lambda: active_uploads() == before, "the server to give up the upload")
            slow.release.set()
            await wait_for(slow.done.is_set, "the temp file to be made")
            with pytest.raises(asyncio.CancelledError):
                await call
        await wait_for(lambda: staged_files(root) == [], "the temp file to be removed", timeout=3)
    finally:
        core.storage = LocalStorage(root)


async def test_stopping_the_server_mid_upload_leaves_nothing(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    settings = transfer_settings(
        await transfer_database(postgres), pki_dir, tmp_path / "artifacts", f"127.0.0.1:{free_port()}"
    )
    process = build(settings)
    port = await process.start()
    never = asyncio.Event()

    async def requests() -> AsyncIterator[pb.UploadRequest]:
        yield pb.UploadRequest(metadata=pb.UploadMetadata(filename="interrupted.tar.gz"))
        yield pb.UploadRequest(chunk=os.urandom(100_000))
        await never.wait()

    async with open_channel(f"127.0.0.1:{port}", settings.tls_files("catalog")) as channel:
        call = pb_grpc.TransferServiceStub(channel).Upload(requests())
        root = settings.storage_root
        try:
            await wait_for(
                lambda: any(path.stat().st_size > 0 for path in staged_files(root)), "the temp file"
            )
        finally:
            await process.stop()
        with pytest.raises(grpc.aio.AioRpcError):
            await call
    assert staged_files(root) == [] and stored_blobs(root) == []
