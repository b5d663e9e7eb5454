"""Streams a multipart package upload into transfer's Upload call while it is still arriving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from fastapi import Request
from starlette.requests import ClientDisconnect

from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from services.gateway.errors import ApiError
from services.gateway.multipart import FileData, FileStart, FormEvent, FormField, FormReader
from services.gateway.package_form import check_field
from services.gateway.upstream import Upstreams

__all__ = ["UploadedForm", "receive_upload", "discard_unregistered"]

log = logging.getLogger("convoy.gateway")

# Transfer's enum, not catalog's (schemas_packages.FORMAT_VALUES): the same names, other numbers.
_TRANSFER_FORMATS = {
    "deb": transfer_pb.ARTIFACT_FORMAT_DEB,
    "rpm": transfer_pb.ARTIFACT_FORMAT_RPM,
    "tar": transfer_pb.ARTIFACT_FORMAT_TAR,
    "container": transfer_pb.ARTIFACT_FORMAT_CONTAINER,
}
# Chunks waiting for transfer; with 1 MiB chunks this bounds what one upload holds in the gateway.
_QUEUE_DEPTH = 4
_END = None
# What a form may add to the file: a few short fields, part headers and boundaries. The body as a whole may
# not pass the file limit by more, so an endless epilogue or preamble cannot keep a connection busy.
_FORM_OVERHEAD = 256 * 1024
# Transfer keeps the filename and content type for people to read and refuses longer or unprintable ones.
_MAX_METADATA_CHARS = 255
_MAX_LENGTH_DIGITS = 19
# Deletes running on their own; the event loop keeps only weak references to tasks.
_DISCARDS: set[asyncio.Task[None]] = set()


@dataclass
class UploadedForm:
    """The form's text fields and what transfer stored and found."""

    fields: dict[str, str] = field(default_factory=dict)
    reply: transfer_pb.UploadResponse | None = None


def _readable(text: str) -> str:
    """A browser's odd file name is no reason to refuse a package: unprintable characters become '_'."""
    return "".join(char if char.isprintable() else "_" for char in text)[:_MAX_METADATA_CHARS]


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the upload is larger than the limit of {limit} bytes")


def discard_unregistered(
    upstreams: Upstreams, metadata: tuple[tuple[str, str], ...], sha256: str
) -> asyncio.Task[None]:
    """Deletes a blob this upload created but no package holds, in a task of its own, so the delete runs
    to its end even when the request that stored the blob is being cancelled."""
    task = asyncio.ensure_future(_discard(upstreams, metadata, sha256))
    _DISCARDS.add(task)
    task.add_done_callback(_DISCARDS.discard)
    return task


async def _discard(upstreams: Upstreams, metadata: tuple[tuple[str, str], ...], sha256: str) -> None:
    try:
        await upstreams.transfer.Delete(
            transfer_pb.DeleteRequest(sha256=sha256), metadata=metadata, timeout=upstreams.timeout
        )
    except grpc.aio.AioRpcError as exc:
        # FAILED_PRECONDITION: a package registered the same bytes meanwhile, and they stay.
        if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
            log.warning("could not discard unregistered blob %s: %s", sha256, exc.code().name)


def _retrieve(task: asyncio.Task[transfer_pb.UploadResponse]) -> None:
    # A call given up on may still end in an error nobody awaits; fetching it keeps asyncio from logging
    # "Task exception was never retrieved" for an outcome we already handled.
    if not task.cancelled():
        task.exception()


class _Upload:
    """One Upload call to transfer, fed from a bounded queue.

    The end of the stream is sent only by `finish`, once the whole form has been read and found valid:
    until then transfer cannot store anything, so any error before it (a bad later part, a client that
    goes away) cancels the call and leaves nothing behind. After it, transfer may be storing the blob
    already: a request given up then lets the call run to its end and deletes what it created.
    """

    def __init__(self, upstreams: Upstreams, metadata: tuple[tuple[str, str], ...]) -> None:
        self._upstreams, self._metadata = upstreams, metadata
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=_QUEUE_DEPTH)
        self.call: grpc.aio.StreamUnaryCall | None = None
        self.task: asyncio.Task[transfer_pb.UploadResponse] | None = None
        self.size = 0
        self._ending = False
        self._delivered = False

    def start(self, start: FileStart, declared_format: str) -> None:
        first = transfer_pb.UploadRequest(
            metadata=transfer_pb.UploadMetadata(
                filename=_readable(start.filename),
                declared_format=_TRANSFER_FORMATS.get(declared_format, 0),
                content_type=_readable(start.content_type),
            )
        )
        self.call = self._upstreams.transfer.Upload(
            self._requests(first),
            metadata=self._metadata,
            timeout=self._upstreams.settings.upload_timeout_seconds,
        )
        self.task = asyncio.ensure_future(self._outcome(self.call))
        self.task.add_done_callback(_retrieve)

    @staticmethod
    async def _outcome(call: grpc.aio.StreamUnaryCall) -> transfer_pb.UploadResponse:
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

    async def finish(self) -> transfer_pb.UploadResponse:
        assert self.task is not None
        await self.send(_END)
        self._ending = True
        # Shielded: a cancelled request must not cancel a call that may be storing the blob (see close).
        reply = await asyncio.shield(self.task)
        self._delivered = True
        return reply

    async def send(self, chunk: bytes | None) -> None:
        """Waits for room in the queue, or stops early with transfer's answer when it has refused."""
        assert self.task is not None
        if not self.task.done():
            put = asyncio.ensure_future(self._queue.put(chunk))
            done, _ = await asyncio.wait({put, self.task}, return_when=asyncio.FIRST_COMPLETED)
            if put in done:
                return
            put.cancel()
        self.task.result()  # raises transfer's refusal
        raise ApiError(502, "bad_gateway", "transfer answered before the upload was complete")

    def close(self) -> None:
        """Ends the call early unless its answer was delivered (see the class's docstring)."""
        if self.call is None or self._delivered:
            return
        if not self._ending:
            self.call.cancel()
            # A call transfer already ended is not cancelled, and grpc then leaves its request reader
            # waiting on our queue for ever (asyncio reports it when collected): the end marker frees it.
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_END)
        else:
            assert self.task is not None
            self.task.add_done_callback(self._discard_orphan)

    def _discard_orphan(self, task: asyncio.Task[transfer_pb.UploadResponse]) -> None:
        if task.cancelled() or task.exception() is not None or not task.result().created:
            return
        log.info("the upload's request was given up after transfer stored it; deleting the blob")
        discard_unregistered(self._upstreams, self._metadata, task.result().blob.sha256)


class _FormReceiver:
    """Routes the form's events: fields are checked as they arrive, the file's bytes go to transfer."""

    def __init__(self, upload: _Upload, limit: int) -> None:
        self.form, self.upload, self.limit = UploadedForm(), upload, limit

    async def handle(self, event: FormEvent) -> None:
        if isinstance(event, FormField):
            self._field(event)
        elif isinstance(event, FileStart):
            self._file(event)
        elif isinstance(event, FileData):
            self.upload.size += len(event.data)
            if self.upload.size > self.limit:
                raise _too_large(self.limit)
            await self.upload.send(event.data)

    def _field(self, event: FormField) -> None:
        if event.name in self.form.fields:
            raise ApiError(400, "invalid_argument", f"form field {event.name[:100]!r} is given twice")
        # Checked now, not after the upload: a typo should not cost the client sending gigabytes first, and
        # only known fields are kept, so many small fields cannot fill the gateway's memory.
        check_field(event.name, event.value)
        self.form.fields[event.name] = event.value

    def _file(self, event: FileStart) -> None:
        if event.name != "file" or self.upload.task is not None:
            raise ApiError(400, "invalid_argument", "send exactly one file, in the form field 'file'")
        self.upload.start(event, self.form.fields.get("format", ""))


async def receive_upload(
    request: Request, upstreams: Upstreams, metadata: tuple[tuple[str, str], ...]
) -> UploadedForm:
    """Reads the form as it arrives; the file goes to transfer chunk by chunk, never whole into memory."""
    settings = upstreams.settings
    _refuse_oversized(request, settings.max_upload_bytes)
    reader = FormReader(request.headers.get("content-type", ""), chunk_bytes=settings.stream_chunk_bytes)
    upload = _Upload(upstreams, metadata)
    receiver = _FormReceiver(upload, settings.max_upload_bytes)
    try:
        await _read_form(request, reader, receiver)
        if upload.task is None:
            raise ApiError(
                400, "invalid_argument", "the form has no file part: send the package as field 'file'"
            )
        receiver.form.reply = await upload.finish()
        return receiver.form
    except ClientDisconnect:
        log.info("client went away during an upload; transfer discards the partial file")
        raise ApiError(499, "cancelled", "the client closed the connection during the upload") from None
    finally:
        upload.close()


async def _read_form(request: Request, reader: FormReader, receiver: _FormReceiver) -> None:
    received, most = 0, receiver.limit + _FORM_OVERHEAD
    async for piece in request.stream():
        received += len(piece)
        if received > most:
            raise _too_large(receiver.limit)
        for event in reader.feed(piece):
            await receiver.handle(event)
    for event in reader.finish():
        await receiver.handle(event)


def _refuse_oversized(request: Request, limit: int) -> None:
    length = request.headers.get("content-length", "")
    if not length:
        return
    if not (length.isascii() and length.isdigit()):
        raise ApiError(400, "invalid_argument", "Content-Length must be a whole number of bytes")
    # Length first: int() refuses thousands of digits, and any number that long is over the limit anyway.
    if len(length) > _MAX_LENGTH_DIGITS or int(length) > limit + _FORM_OVERHEAD:
        raise _too_large(limit)
