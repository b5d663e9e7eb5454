"""Serves a stored artifact over HTTP from transfer's Download stream, with single byte ranges (RFC 9110)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from services.gateway.errors import ApiError
from services.gateway.upstream import Upstreams

__all__ = ["ByteRange", "parse_range", "content_disposition", "artifact_response"]

# Range units are case-insensitive (RFC 9110 §14.1); several ranges do not match and get the whole body.
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
# Larger than any artifact, small enough for int(): a position of thousands of digits would make it raise.
_MAX_DIGITS = 18
# RFC 5987 attr-char: what may stand unescaped in filename*.
_ATTR_CHARS = "!#$&+-.^_`|~"


@dataclass(frozen=True)
class ByteRange:
    start: int
    # Inclusive, as in Content-Range.
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def parse_range(header: str, size: int) -> ByteRange | None:
    """The one range asked for; None means the whole body (no header, or one we may ignore, such as a
    multi-range or a malformed one). An unsatisfiable range is a 416."""
    match = _RANGE.fullmatch(header.replace(" ", "").replace("\t", ""))
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # a suffix: the last N bytes
        if _position(last) == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(size - _position(last), 0), size - 1)
    start = _position(first)
    if last and _position(last) < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, min(_position(last), size - 1) if last else size - 1)


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(
        416,
        "range_not_satisfiable",
        f"the range lies outside the {size} bytes",
        {"Content-Range": f"bytes */{size}"},
    )


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name in RFC 6266's filename*, so no quote,
    line break or non-Latin-1 character of a package's name can reach (or break) the header."""
    filename = filename.replace("/", "_").replace("\\", "_")
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._+-") else "_" for c in filename)
    exact = urllib.parse.quote(filename, safe=_ATTR_CHARS)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


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


def _wanted(request: Request, sha256: str, size: int) -> ByteRange | None:
    """The range to send, or None for the whole body (RFC 9110 §13.2.2 and §14.2)."""
    # Range is defined for GET only; HEAD describes the whole representation.
    if request.method != "GET":
        return None
    # If-Range first: when the client's copy is of other bytes, its range is ignored, even one that lies
    # beyond these bytes (the answer is all of them, not a 416).
    if request.headers.get("if-range") not in (None, f'"{sha256}"'):
        return None
    return parse_range(request.headers.get("range", ""), size)


async def artifact_response(
    request: Request,
    upstreams: Upstreams,
    metadata: tuple[tuple[str, str], ...],
    *,
    sha256: str,
    size: int,
    filename: str,
) -> Response:
    wanted = _wanted(request, sha256, size)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{sha256}"',
        "Content-Disposition": content_disposition(filename),
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
