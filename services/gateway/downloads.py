"""Serves a stored artifact over HTTP from transfer's Download stream, with single byte ranges (RFC 9110)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from services.gateway.errors import ApiError
from services.gateway.upstream import Upstreams

__all__ = ["ByteRange", "parse_range", "artifact_response"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class ByteRange:
    start: int
    # Inclusive, as in Content-Range.
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str, size: int) -> ByteRange | None:
    """The one range asked for; None means the whole body (no header, or one we may ignore, such as a
    multi-range or a malformed one). An unsatisfiable range is a 416."""
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not header or match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        if int(last) == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(size - int(last), 0), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, end)


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(
        416,
        "range_not_satisfiable",
        f"the range lies outside the {size} bytes",
        {"Content-Range": f"bytes */{size}"},
    )


async def _open(
    upstreams: Upstreams, metadata: tuple[tuple[str, str], ...], sha256: str, start: int
) -> grpc.aio.UnaryStreamCall:
    """Starts the download and waits for its header, so a missing blob is an HTTP error, not a cut body."""
    call = upstreams.transfer.Download(
        transfer_pb.DownloadRequest(sha256=sha256, offset=start),
        metadata=metadata,
        timeout=upstreams.settings.upload_timeout_seconds,
    )
    first = await call.read()
    if first is grpc.aio.EOF or first.WhichOneof("payload") != "header":
        call.cancel()
        raise ApiError(502, "bad_gateway", "transfer did not announce the download")
    return call


async def _chunks(call: grpc.aio.UnaryStreamCall, length: int) -> AsyncIterator[bytes]:
    remaining = length
    try:
        while remaining > 0:
            message = await call.read()
            if message is grpc.aio.EOF:
                break
            piece = message.chunk[:remaining]
            remaining -= len(piece)
            yield piece
    finally:
        call.cancel()


async def artifact_response(
    request: Request,
    upstreams: Upstreams,
    metadata: tuple[tuple[str, str], ...],
    *,
    sha256: str,
    size: int,
    filename: str,
) -> Response:
    wanted = parse_range(request.headers.get("range", ""), size)
    if request.headers.get("if-range") not in (None, f'"{sha256}"'):
        wanted = None  # the client's copy is of other bytes: send them all
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{sha256}"',
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, max-age=0",
    }
    start, length, status = 0, size, 200
    if wanted is not None:
        start, length, status = wanted.start, wanted.length, 206
        headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers, media_type="application/octet-stream")
    call = await _open(upstreams, metadata, sha256, start)
    return StreamingResponse(
        _chunks(call, length), status_code=status, headers=headers, media_type="application/octet-stream"
    )
