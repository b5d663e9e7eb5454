"""Artifact downloads from transfer, resumable across interruptions and agent restarts.

Bytes go to <state>/downloads/<sha256>.part as they arrive (memory stays bounded by one chunk); a new
attempt continues from the part file's size, after hashing what is already there. Only when every byte
is in and the sha256 matches is the file renamed to <sha256>.done, the one path executors ever see. A part
whose content cannot be right (longer than the blob, or a complete file with the wrong hash) is deleted.

The stream itself is behind `open_stream(offset)`, a callable returning an iterator of
DownloadResponse-like messages (a header first, then chunks): see grpc_stream() for the real one."""

import hashlib
import os
import re
import time
from typing import Any, Callable, Iterator, Optional

from convoy_agent import metrics
from convoy_agent.connection import Backoff
from convoy_agent.files import fsync_directory

DOWNLOADS_DIR = "downloads"
HASH_BLOCK = 1024 * 1024
# Without a time limit (`give_up_at`), reconnect this many times after a broken stream before giving up
# (progress resets the count). With one, the download keeps trying until then: an outage of any length
# within the assignment's deadline is survived.
RETRIES = 5
# The first reconnect waits about RETRY_DELAY, each further one in a row twice as long, up to the cap.
RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 30.0
_SHA256 = re.compile(r"[0-9a-f]{64}")
# gRPC status names after which trying again is pointless.
_PERMANENT = ("PERMISSION_DENIED", "NOT_FOUND", "UNAUTHENTICATED", "INVALID_ARGUMENT", "FAILED_PRECONDITION")

OpenStream = Callable[[int], Iterator[Any]]
ProgressFn = Callable[[int, int], None]


class DownloadError(Exception):
    """The download failed for good (refused, or bytes that never match)."""


class DownloadCancelled(DownloadError):
    """`cancelled()` said so; the part file is kept for a later attempt."""


def download(
    open_stream: OpenStream,
    sha256: str,
    size: int,
    state_dir: str,
    progress: Optional[ProgressFn] = None,
    cancelled: Optional[Callable[[], bool]] = None,
    retries: int = RETRIES,
    sleep: Callable[[float], Any] = time.sleep,
    give_up_at: Optional[Callable[[], Optional[float]]] = None,
) -> str:
    """Fetches the blob `sha256` of `size` bytes (0: take the size from the header) and returns the path
    of the verified file. `progress(received, total)` is called as bytes arrive; `cancelled()` is checked
    between chunks and whenever the stream breaks (a cancel that aborts the running call included).
    Broken streams are retried from the current offset with backoff: until the time (time.time())
    `give_up_at()` returns, when it returns one (it is asked again each time: a deadline may move),
    else `retries` times in a row without progress."""
    try:
        sha256 = check_sha256(sha256)
    except ValueError as error:
        raise DownloadError(str(error)) from None
    directory = os.path.join(state_dir, DOWNLOADS_DIR)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    final = os.path.join(directory, sha256 + ".done")
    part = os.path.join(directory, sha256 + ".part")
    if os.path.exists(final):
        if _file_sha256(final) == sha256 and (not size or os.path.getsize(final) == size):
            if progress:
                progress(os.path.getsize(final), os.path.getsize(final))
            return final
        os.unlink(final)
    backoff = Backoff(RETRY_DELAY, MAX_RETRY_DELAY)
    restarted = False
    while True:
        if cancelled is not None and cancelled():
            raise DownloadCancelled("cancelled")
        before = _part_size(part)
        try:
            total = _fetch(open_stream, sha256, size, part, progress, cancelled)
        except _Corrupt as corrupt:
            _unlink(part)
            if restarted:
                raise DownloadError(str(corrupt)) from None
            # The resumed bytes may be what was wrong (a torn write before a crash): once more from zero.
            restarted = True
            continue
        except DownloadError:
            raise
        except Exception as error:  # a broken stream: grpc.RpcError, OSError, …
            if cancelled is not None and cancelled():
                raise DownloadCancelled("cancelled") from None
            code = _status_name(error)
            if code in _PERMANENT:
                raise DownloadError(f"transfer refused the download ({code}): {_details(error)}") from None
            if code == "OUT_OF_RANGE":
                _unlink(part)  # our part is longer than the blob: it cannot be right
            if _part_size(part) > before:
                backoff.reset()
            delay = backoff.next_delay()
            limit = give_up_at() if give_up_at is not None else None
            if limit is not None:
                remaining = limit - time.time()
                if remaining <= 0:
                    raise DownloadError(
                        f"the download kept failing until the deadline: {_details(error) or error}"
                    ) from None
                delay = min(delay, remaining)
            elif backoff.failures > retries:
                raise DownloadError(f"the download kept failing: {_details(error) or error}") from None
            sleep(delay)
            continue
        os.rename(part, final)
        fsync_directory(directory)
        if progress:
            progress(total, total)
        return final


def grpc_stream(
    stub: Any,
    request_type: Any,
    sha256: str,
    grant: str,
    timeout: Optional[float] = None,
    metadata: Any = None,
) -> OpenStream:
    """open_stream for a sync TransferService stub: `request_type` is its DownloadRequest class."""

    def open_stream(offset: int) -> Iterator[Any]:
        request = request_type(sha256=sha256, offset=offset, grant=grant)
        return stub.Download(request, timeout=timeout, metadata=metadata)

    return open_stream


def check_sha256(sha256: str) -> str:
    """The lowercase sha256, or ValueError: it names files, so nothing else may come through."""
    value = (sha256 or "").lower()
    if not _SHA256.fullmatch(value):
        raise ValueError(f"{sha256!r} is not a sha256")
    return value


def discard(state_dir: str, sha256: str) -> None:
    """Removes the part and the finished file of a blob (after it was installed, or given up on)."""
    sha256 = check_sha256(sha256)
    for suffix in (".part", ".done"):
        _unlink(os.path.join(state_dir, DOWNLOADS_DIR, sha256 + suffix))


def finished(state_dir: str, sha256: str) -> Optional[str]:
    """The verified finished file of a blob, if it is there (crash recovery rolls forward from it)."""
    path = os.path.join(state_dir, DOWNLOADS_DIR, check_sha256(sha256) + ".done")
    if os.path.isfile(path) and _file_sha256(path) == check_sha256(sha256):
        return path
    return None


class _Corrupt(DownloadError):
    pass


def _fetch(
    open_stream: OpenStream,
    sha256: str,
    size: int,
    part: str,
    progress: Optional[ProgressFn],
    cancelled: Optional[Callable[[], bool]],
) -> int:
    """One stream: appends to the part file from its current size; returns the total once complete and
    verified. Raises _Corrupt when the bytes cannot be right, anything else when the stream broke."""
    digest = hashlib.sha256()
    offset = 0
    if os.path.exists(part):
        with open(part, "rb") as handle:
            for block in iter(lambda: handle.read(HASH_BLOCK), b""):
                digest.update(block)
                offset += len(block)
    if size and offset > size:
        raise _Corrupt("the partial download is longer than the blob")
    if size and offset == size:
        if digest.hexdigest() != sha256:
            raise _Corrupt(f"the downloaded bytes do not match sha256 {sha256}")
        return size
    stream = open_stream(offset)
    total = size
    header_seen = False
    received = offset
    try:
        with open(part, "ab") as handle:
            for message in stream:
                kind = message.WhichOneof("payload")
                if kind == "header":
                    header = message.header
                    if header_seen:
                        raise _Corrupt("transfer sent a second header")
                    header_seen = True
                    if header.sha256 and header.sha256.lower() != sha256:
                        raise _Corrupt(f"transfer sent blob {header.sha256} instead of {sha256}")
                    if size and header.total_size != size:
                        raise DownloadError(
                            f"transfer says the blob has {header.total_size} bytes, the assignment {size}"
                        )
                    total = header.total_size
                    if header.offset != offset:
                        raise _Corrupt(f"transfer resumed at byte {header.offset}, not {offset}")
                    if offset > total:
                        raise _Corrupt("the partial download is longer than the blob")
                    continue
                if not header_seen:
                    raise _Corrupt("transfer sent data before its header")
                chunk = message.chunk
                received += len(chunk)
                if received > total:
                    raise _Corrupt("transfer sent more bytes than the blob has")
                handle.write(chunk)
                metrics.DOWNLOAD_BYTES.inc(len(chunk))
                digest.update(chunk)
                if progress:
                    progress(received, total)
                if cancelled is not None and cancelled():
                    handle.flush()
                    raise DownloadCancelled("cancelled")
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        cancel = getattr(stream, "cancel", None)
        if cancel is not None and received < (total or 0):
            cancel()  # do not leave the server streaming into a dropped call
    if not header_seen:
        raise OSError("the stream ended before its header")
    if received < total:
        raise OSError(f"the stream ended after {received} of {total} bytes")
    if digest.hexdigest() != sha256:
        raise _Corrupt(f"the downloaded bytes do not match sha256 {sha256}")
    return total


def _status_name(error: BaseException) -> str:
    code = getattr(error, "code", None)
    if callable(code):
        try:
            return str(getattr(code(), "name", code()))
        except Exception:  # not a grpc error after all
            return ""
    return ""


def _details(error: BaseException) -> str:
    details = getattr(error, "details", None)
    if callable(details):
        try:
            return str(details())
        except Exception:  # not a grpc error after all
            return str(error)
    return str(error)


def _part_size(part: str) -> int:
    try:
        return os.path.getsize(part)
    except OSError:
        return 0


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
