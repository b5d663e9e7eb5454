"""Starts the real transfer gRPC server (mTLS, port 0) in-process, and calls it the way clients do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from services.transfer.config import TransferSettings
from services.transfer.models import SCHEMA
from services.transfer.server import TransferProcess, build
from services.transfer.storage import STAGING_DIR
from tests.support.stack import ServiceStack, fresh_database, service_settings

__all__ = [
    "Metadata",
    "TransferStack",
    "transfer_settings",
    "transfer_database",
    "start_transfer",
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
    values = {"auth_target": auth_target, "storage_root": storage_root, **overrides}
    return TransferSettings(**service_settings(database_url, pki_dir, **values))


async def transfer_database(postgres: LocalPostgres) -> str:
    return await fresh_database(postgres, "transfer", migrations=(("services.transfer", SCHEMA),))


@dataclass
class TransferStack(ServiceStack):
    process: TransferProcess
    port: int
    settings: TransferSettings

    @property
    def storage_root(self) -> Path:
        return self.settings.storage_root


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
