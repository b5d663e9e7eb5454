"""Downloads from a real transfer server: whole, resumed from an offset, and the refusals."""

from __future__ import annotations

import hashlib

import grpc
import pytest

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
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
        ("stored", -1, grpc.StatusCode.OUT_OF_RANGE, "offset must not be negative"),
        ("0" * 64, 0, grpc.StatusCode.NOT_FOUND, "is not stored"),
        ("ABC", 0, grpc.StatusCode.INVALID_ARGUMENT, "sha256 must be 64 lowercase hex characters"),
        ("F" * 64, 0, grpc.StatusCode.INVALID_ARGUMENT, "sha256 must be 64 lowercase hex characters"),
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
