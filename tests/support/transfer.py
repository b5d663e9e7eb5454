"""Starts the real transfer gRPC server (mTLS, port 0) in-process, and calls it the way clients do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from services.kit.tls import open_channel
from services.transfer.config import TransferSettings
from services.transfer.models import SCHEMA
from services.transfer.server import TransferProcess, build
from services.transfer.storage import STAGING_DIR
from tests.support.stack import ADMIN_PASSWORD, AuthStack, fresh_database

__all__ = [
    "Metadata",
    "TransferStack",
    "Users",
    "transfer_settings",
    "transfer_database",
    "start_transfer",
    "create_users",
    "bearer",
    "send_upload",
    "upload_file",
    "upload_bytes",
    "download_all",
    "stored_blobs",
    "staged_files",
]

Metadata = Sequence[tuple[str, str]]


def transfer_settings(
    database_url: str, pki_dir: Path, storage_root: Path, auth_target: str, **overrides: Any
) -> TransferSettings:
    values: dict[str, Any] = {
        "env": "dev",
        "database_url": database_url,
        "pki_dir": pki_dir,
        "listen": "127.0.0.1:0",
        "auth_target": auth_target,
        "storage_root": storage_root,
        "drain_seconds": 0,
        "shutdown_grace_seconds": 1,
    }
    return TransferSettings(**{**values, **overrides})


async def transfer_database(postgres: LocalPostgres) -> str:
    return await fresh_database(postgres, "transfer", migrations=(("services.transfer", SCHEMA),))


@dataclass
class TransferStack:
    process: TransferProcess
    port: int
    settings: TransferSettings

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def storage_root(self) -> Path:
        return self.settings.storage_root

    def channel(self, name: str = "gateway") -> grpc.aio.Channel:
        """An mTLS channel presenting the certificate `name` from the test PKI."""
        return open_channel(self.target, self.settings.tls_files(name))


@asynccontextmanager
async def start_transfer(
    settings: TransferSettings, *, keys_timeout: float = 10.0
) -> AsyncIterator[TransferStack]:
    """The process as `serve` runs it, stopped on the way out; yields once auth's token keys are loaded."""
    process = build(settings)
    port = await process.start()
    try:
        await process.keys.wait_loaded(keys_timeout)
        yield TransferStack(process, port, settings)
    finally:
        await process.stop()


@dataclass(frozen=True)
class Users:
    """Access tokens of an admin, an operator and a viewer on the auth stack."""

    admin: str
    operator: str
    viewer: str
    viewer_name: str
    operator_name: str


async def create_users(auth_stack: AuthStack) -> Users:
    async with auth_stack.channel("gateway") as channel:
        stub = auth_grpc.AuthServiceStub(channel)
        admin = await _login(stub, "admin", ADMIN_PASSWORD)
        names = {}
        for role in (auth_pb.ROLE_OPERATOR, auth_pb.ROLE_VIEWER):
            name = f"u{uuid.uuid4().hex[:12]}"
            request = auth_pb.CreateUserRequest(username=name, role=role, password=f"{name}-password")
            await stub.CreateUser(request, metadata=bearer(admin))
            names[role] = name
        operator = await _login(
            stub, names[auth_pb.ROLE_OPERATOR], f"{names[auth_pb.ROLE_OPERATOR]}-password"
        )
        viewer = await _login(stub, names[auth_pb.ROLE_VIEWER], f"{names[auth_pb.ROLE_VIEWER]}-password")
    return Users(admin, operator, viewer, names[auth_pb.ROLE_VIEWER], names[auth_pb.ROLE_OPERATOR])


async def _login(stub: auth_grpc.AuthServiceStub, username: str, password: str) -> str:
    reply = await stub.Login(auth_pb.LoginRequest(username=username, password=password))
    return reply.tokens.access_token


def bearer(token: str, request_id: str = "") -> tuple[tuple[str, str], ...]:
    items = [("authorization", f"Bearer {token}")]
    if request_id:
        items.append(("x-request-id", request_id))
    return tuple(items)


async def send_upload(
    stub: pb_grpc.TransferServiceStub, requests: Iterable[pb.UploadRequest], *, metadata: Metadata = ()
) -> pb.UploadResponse:
    """Streams the messages with the call's write API, so a refusal that arrives while we are still
    sending surfaces as the server's status (an iterator-fed call reports it as INTERNAL instead)."""
    call = stub.Upload(metadata=metadata, timeout=60)
    try:
        for request in requests:
            await call.write(request)
        await call.done_writing()
    except (asyncio.InvalidStateError, grpc.aio.AioRpcError):
        pass  # the server has answered already; awaiting the call raises its status
    return await call


def _file_requests(
    path: Path, declared_format: int, size: int, chunk_size: int
) -> Iterator[pb.UploadRequest]:
    yield pb.UploadRequest(
        metadata=pb.UploadMetadata(
            filename=path.name,
            declared_format=declared_format,  # type: ignore[arg-type]
            size=size,
            content_type="application/octet-stream",
        )
    )
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield pb.UploadRequest(chunk=chunk)


async def upload_file(
    stub: pb_grpc.TransferServiceStub,
    path: Path,
    *,
    metadata: Metadata = (),
    declared_format: int = pb.ARTIFACT_FORMAT_UNSPECIFIED,
    size: int | None = None,
    chunk_size: int = 256 * 1024,
) -> pb.UploadResponse:
    """Streams the file: metadata first (its size declared unless `size` says otherwise), then chunks."""
    declared_size = path.stat().st_size if size is None else size
    requests = _file_requests(path, declared_format, declared_size, chunk_size)
    return await send_upload(stub, requests, metadata=metadata)


async def upload_bytes(
    stub: pb_grpc.TransferServiceStub, data: bytes, filename: str, *, metadata: Metadata = ()
) -> pb.UploadResponse:
    step = 256 * 1024
    requests = [pb.UploadRequest(metadata=pb.UploadMetadata(filename=filename))]
    requests += [pb.UploadRequest(chunk=data[start : start + step]) for start in range(0, len(data), step)]
    return await send_upload(stub, requests, metadata=metadata)


async def download_all(
    stub: pb_grpc.TransferServiceStub, sha256: str, offset: int = 0, *, metadata: Metadata = ()
) -> tuple[pb.DownloadHeader, bytes]:
    """The header and every byte from `offset`."""
    header, chunks = None, []
    async for response in stub.Download(
        pb.DownloadRequest(sha256=sha256, offset=offset), metadata=metadata, timeout=60
    ):
        if response.WhichOneof("payload") == "header":
            assert header is None, "a second header"
            header = response.header
        else:
            assert header is not None, "a chunk before the header"
            chunks.append(response.chunk)
    assert header is not None, "no header"
    return header, b"".join(chunks)


def stored_blobs(storage_root: Path) -> list[Path]:
    """Every blob file in the store."""
    return sorted(path for path in (storage_root / "sha256").rglob("*") if path.is_file())


def staged_files(storage_root: Path) -> list[Path]:
    """Every temp file in the staging dir."""
    return sorted((storage_root / STAGING_DIR).iterdir())
