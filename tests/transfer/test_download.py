"""Downloads from a real transfer server: whole, resumed from an offset, and the refusals."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

import grpc
import pytest

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from services.transfer.storage import LocalStorage
from tests.support.packages import build_deb
from tests.support.transfer import TransferStack, download_all, upload_file
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def stored(
    transfer_stack: TransferStack, users: Users, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, bytes]:
    """A deb several chunks long, uploaded once for the module: (sha256, bytes)."""
    deb = build_deb(tmp_path_factory.mktemp("download"), "payload", "1.0", payload_bytes=300_000)
    async with transfer_stack.channel() as channel:
        reply = await upload_file(
            pb_grpc.TransferServiceStub(channel), deb, metadata=grpc_auth(users.operator)
        )
    return reply.blob.sha256, deb.read_bytes()


async def test_a_whole_download_returns_every_byte(
    transfer_stack: TransferStack, users: Users, stored: tuple[str, bytes]
) -> None:
    sha256, data = stored
    async with transfer_stack.channel() as channel:
        header, body = await download_all(
            pb_grpc.TransferServiceStub(channel), sha256, metadata=grpc_auth(users.viewer)
        )
    assert header == pb.DownloadHeader(
        sha256=sha256, total_size=len(data), chunk_size=transfer_stack.settings.chunk_bytes, offset=0
    )
    assert body == data


async def test_a_resumed_download_returns_exactly_the_rest(
    transfer_stack: TransferStack, stored: tuple[str, bytes]
) -> None:
    sha256, data = stored
    offset = len(data) // 2 + 7
    async with transfer_stack.channel("scheduler") as channel:
        header, rest = await download_all(pb_grpc.TransferServiceStub(channel), sha256, offset)
    assert header.offset == offset and header.total_size == len(data)
    assert rest == data[offset:]
    assert hashlib.sha256(data[:offset] + rest).hexdigest() == sha256


async def test_resuming_at_the_end_sends_only_the_header(
    transfer_stack: TransferStack, stored: tuple[str, bytes]
) -> None:
    sha256, data = stored
    async with transfer_stack.channel("scheduler") as channel:
        header, rest = await download_all(pb_grpc.TransferServiceStub(channel), sha256, len(data))
    assert (header.offset, rest) == (len(data), b"")


@pytest.mark.parametrize(
    ("sha256", "offset", "code", "words"),
    [
        ("stored", 10**9, grpc.StatusCode.OUT_OF_RANGE, "is beyond the end of blob"),
        ("stored", -1, grpc.StatusCode.INVALID_ARGUMENT, "offset must not be negative"),
        ("0" * 64, 0, grpc.StatusCode.NOT_FOUND, "is not stored"),
        ("ABC", 0, grpc.StatusCode.INVALID_ARGUMENT, "sha256 must be 64 lowercase hex characters"),
        ("F" * 64, 0, grpc.StatusCode.INVALID_ARGUMENT, "sha256 must be 64 lowercase hex characters"),
        ("a" * 64 + "\n", 0, grpc.StatusCode.INVALID_ARGUMENT, "sha256 must be 64 lowercase hex characters"),
    ],
)
async def test_a_download_that_cannot_be_served_says_why(
    transfer_stack: TransferStack,
    users: Users,
    stored: tuple[str, bytes],
    sha256: str,
    offset: int,
    code: grpc.StatusCode,
    words: str,
) -> None:
    target = stored[0] if sha256 == "stored" else sha256
    async with transfer_stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await download_all(
                pb_grpc.TransferServiceStub(channel), target, offset, metadata=grpc_auth(users.viewer)
            )
    assert refused.value.code() == code
    assert words in refused.value.details()


async def test_a_token_from_someone_else_is_refused(
    transfer_stack: TransferStack, stored: tuple[str, bytes]
) -> None:
    async with transfer_stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await download_all(
                pb_grpc.TransferServiceStub(channel), stored[0], metadata=grpc_auth("not-a-token")
            )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def uploaded_deb(stack: TransferStack, users: Users, tmp_path: Path, name: str) -> tuple[str, bytes]:
    deb = build_deb(tmp_path, f"{name}{uuid.uuid4().hex[:8]}", "1.0", payload_bytes=300_000)
    async with stack.channel() as channel:
        reply = await upload_file(
            pb_grpc.TransferServiceStub(channel), deb, metadata=grpc_auth(users.operator)
        )
    return reply.blob.sha256, deb.read_bytes()


async def test_a_blob_deleted_during_a_download_is_still_served_whole(
    transfer_stack: TransferStack, users: Users, tmp_path: Path
) -> None:
    """The stream holds the file open: a Delete removes the blob for everyone after, not the bytes of a
    download already under way."""
    sha256, data = await uploaded_deb(transfer_stack, users, tmp_path, "deleted")
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        call = stub.Download(pb.DownloadRequest(sha256=sha256), metadata=grpc_auth(users.viewer))
        assert (await call.read()).header.total_size == len(data)
        chunks = [(await call.read()).chunk]
        await stub.Delete(pb.DeleteRequest(sha256=sha256), metadata=grpc_auth(users.operator))
        while (response := await call.read()) is not grpc.aio.EOF:
            chunks.append(response.chunk)
    assert b"".join(chunks) == data
    assert not (transfer_stack.storage_root / "sha256" / sha256[:2] / sha256[2:4] / sha256).exists()


class DeletedFirst(LocalStorage):
    """The real store, but the next download to open a file finds that a Delete has just run."""

    def __init__(self, root: Path, delete: Callable[[], Awaitable[object]]) -> None:
        super().__init__(root)
        self._delete, self._loop = delete, asyncio.get_running_loop()

    def open_read(self, sha256: str) -> BinaryIO:
        asyncio.run_coroutine_threadsafe(self._delete(), self._loop).result(timeout=30)
        return super().open_read(sha256)


async def test_a_download_that_loses_the_race_with_a_delete_is_not_found(
    transfer_stack: TransferStack, users: Users, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not UNAVAILABLE ("damaged storage, retry"), and no error in the log: the blob is simply gone."""
    sha256, _ = await uploaded_deb(transfer_stack, users, tmp_path, "raced")
    core = transfer_stack.process.core
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)

        async def delete() -> None:
            await stub.Delete(pb.DeleteRequest(sha256=sha256), metadata=grpc_auth(users.operator))

        core.storage = DeletedFirst(transfer_stack.storage_root, delete)
        try:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await download_all(stub, sha256, metadata=grpc_auth(users.viewer))
        finally:
            core.storage = LocalStorage(transfer_stack.storage_root)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no file in storage" not in caplog.text
