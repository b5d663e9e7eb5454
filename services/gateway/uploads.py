"""Streams a multipart package upload into transfer's Upload call while it is still arriving."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from fastapi import Request
from starlette.requests import ClientDisconnect

from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from services.gateway.errors import ApiError
from services.gateway.multipart import FileData, FileEnd, FileStart, FormEvent, FormField, FormReader
from services.gateway.upstream import Upstreams

__all__ = ["UploadedForm", "receive_upload", "FORMAT_VALUES"]

log = logging.getLogger("convoy.gateway")

FORMAT_VALUES = {
    "deb": transfer_pb.ARTIFACT_FORMAT_DEB,
    "rpm": transfer_pb.ARTIFACT_FORMAT_RPM,
    "tar": transfer_pb.ARTIFACT_FORMAT_TAR,
    "container": transfer_pb.ARTIFACT_FORMAT_CONTAINER,
}
# Chunks waiting for transfer; with 1 MiB chunks this bounds what one upload holds in the gateway.
_QUEUE_DEPTH = 4
_END = None


@dataclass
class UploadedForm:
    """The form's text fields and what transfer stored and found."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str = ""
    reply: transfer_pb.UploadResponse | None = None


class _Upload:
    """One Upload call to transfer, fed from a bounded queue."""

    def __init__(self, upstreams: Upstreams, metadata: tuple[tuple[str, str], ...]) -> None:
        self._upstreams, self._metadata = upstreams, metadata
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=_QUEUE_DEPTH)
        self.call: grpc.aio.StreamUnaryCall | None = None
        self.task: asyncio.Task[transfer_pb.UploadResponse] | None = None
        self.size = 0

    def start(self, start: FileStart, declared_format: str) -> None:
        first = transfer_pb.UploadRequest(
            metadata=transfer_pb.UploadMetadata(
                filename=start.filename,
                declared_format=FORMAT_VALUES.get(declared_format, 0),
                content_type=start.content_type,
            )
        )
        self.call = self._upstreams.transfer.Upload(
            self._requests(first),
            metadata=self._metadata,
            timeout=self._upstreams.settings.upload_timeout_seconds,
        )
        self.task = asyncio.ensure_future(self._finish(self.call))

    @staticmethod
    async def _finish(call: grpc.aio.StreamUnaryCall) -> transfer_pb.UploadResponse:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            # When transfer refuses while we are still sending, the client library may report INTERNAL
            # instead of transfer's status: say what happened rather than answer with a bare 500.
            if exc.code() == grpc.StatusCode.INTERNAL:
                raise ApiError(
                    502, "bad_gateway", "transfer ended the upload early; check the file's size and format"
                ) from exc
            raise

    async def _requests(self, first: transfer_pb.UploadRequest) -> AsyncIterator[transfer_pb.UploadRequest]:
        yield first
        while (chunk := await self._queue.get()) is not _END:
            yield transfer_pb.UploadRequest(chunk=chunk)

    async def put(self, chunk: bytes | None) -> None:
        """Waits for room in the queue, or stops early with transfer's answer when it has refused."""
        assert self.task is not None
        put = asyncio.ensure_future(self._queue.put(chunk))
        done, _ = await asyncio.wait({put, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if put not in done:
            put.cancel()
            self.task.result()  # raises transfer's refusal
            raise ApiError(502, "bad_gateway", "transfer answered before the upload was complete")

    def cancel(self) -> None:
        if self.call is not None and not self.call.done():
            self.call.cancel()


async def receive_upload(
    request: Request, upstreams: Upstreams, metadata: tuple[tuple[str, str], ...]
) -> UploadedForm:
    """Reads the form as it arrives; the file goes to transfer chunk by chunk, never whole into memory."""
    settings = upstreams.settings
    _refuse_oversized(request, settings.max_upload_bytes)
    reader = FormReader(request.headers.get("content-type", ""), chunk_bytes=settings.stream_chunk_bytes)
    form, upload = UploadedForm(), _Upload(upstreams, metadata)
    try:
        async for piece in request.stream():
            for event in reader.feed(piece):
                await _handle(event, form, upload, settings.max_upload_bytes)
        for event in reader.finish():
            await _handle(event, form, upload, settings.max_upload_bytes)
        if upload.task is None:
            raise ApiError(
                400, "invalid_argument", "the form has no file part: send the package as field 'file'"
            )
        form.reply = await upload.task
        return form
    except ClientDisconnect:
        log.info("client went away during an upload; transfer discards the partial file")
        raise ApiError(499, "cancelled", "the client closed the connection during the upload") from None
    finally:
        upload.cancel()


def _refuse_oversized(request: Request, limit: int) -> None:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + 64 * 1024:
        raise ApiError(413, "payload_too_large", f"the upload is larger than the limit of {limit} bytes")


async def _handle(event: FormEvent, form: UploadedForm, upload: _Upload, limit: int) -> None:
    if isinstance(event, FormField):
        if event.name in form.fields:
            raise ApiError(400, "invalid_argument", f"form field {event.name!r} is given twice")
        form.fields[event.name] = event.value
    elif isinstance(event, FileStart):
        if event.name != "file" or upload.task is not None:
            raise ApiError(400, "invalid_argument", "send exactly one file, in the form field 'file'")
        form.filename = event.filename
        upload.start(event, form.fields.get("format", ""))
    elif isinstance(event, FileData):
        upload.size += len(event.data)
        if upload.size > limit:
            raise ApiError(413, "payload_too_large", f"the upload is larger than the limit of {limit} bytes")
        await upload.put(event.data)
    elif isinstance(event, FileEnd):
        await upload.put(_END)
