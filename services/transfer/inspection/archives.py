"""Reads tar archives without extracting them; every member passes the scanner's checks before any is used."""

from __future__ import annotations

import gzip
import json
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from services.transfer.errors import Rejected
from services.transfer.inspection.members import MemberScanner, normal_name, shown
from services.transfer.inspection.model import Limits
from services.transfer.inspection.streams import GuardedStream

__all__ = ["ScannedArchive", "open_archive", "normal_name", "shown", "load_json", "CORRUPT_ERRORS"]

# What a damaged tar or gzip stream raises while being read; tarfile's number and sparse-map parsing
# raise plain ValueError (UnicodeError is one too).
CORRUPT_ERRORS = (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, ValueError)
# Room for headers, padding and long-name records on top of the members' declared contents.
_OVERHEAD_PER_MEMBER = 4096
_MAX_ERROR_CHARS = 200


def load_json(data: bytes) -> Any:
    """Parsed JSON; ValueError for anything that is not, including nesting too deep for the parser."""
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise ValueError("it is nested too deeply") from exc


@dataclass
class ScannedArchive:
    """An archive whose every member passed the checks; small members can then be read by place."""

    tar: tarfile.TarFile
    members: dict[str, tarfile.TarInfo]

    def regular(self, name: str) -> tarfile.TarInfo | None:
        """The regular file at `name` (relative to the root), if there is one."""
        info = self.members.get(name)
        return info if info is not None and info.isreg() else None

    def read(self, info: tarfile.TarInfo, cap: int) -> bytes | None:
        """The member's bytes, or None when it is larger than `cap`."""
        if info.size > cap:
            return None
        try:
            handle = self.tar.extractfile(info)
            assert handle is not None, "only regular members are read"
            with handle:
                return handle.read(info.size)
        except CORRUPT_ERRORS as exc:
            raise _damaged(exc) from exc

    def read_json(self, name: str, cap: int, *, reason: str, where: str = "") -> Any:
        """The JSON document in the regular member `name`; Rejected(reason) when it is not a regular
        file, is larger than `cap` bytes, or does not parse. `where` names the archive in messages."""
        label = f"{name}{where}"
        info = self.regular(name)
        if info is None:
            raise Rejected(reason, f"{label} must be a regular file")
        data = self.read(info, cap)
        if data is None:
            raise Rejected(reason, f"{label} is larger than {cap // 1024} KiB")
        try:
            return load_json(data)
        except ValueError as exc:
            raise Rejected(reason, f"{label} is not valid JSON: {exc}") from exc


@contextmanager
def open_archive(path: Path, *, compressed: bool, limits: Limits) -> Iterator[ScannedArchive]:
    """Scans every member of the (gzip-compressed) tar at `path`; yields it only when all passed."""
    size = path.stat().st_size
    # Every byte the archive may decompress to: the declared contents plus their headers.
    stream_limit = limits.max_expansion_ratio * max(size, 1) + (limits.max_members + 2) * _OVERHEAD_PER_MEMBER
    with ExitStack() as stack:
        raw: BinaryIO = stack.enter_context(path.open("rb"))
        if compressed:
            raw = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        stream = GuardedStream(raw, stream_limit, lambda: _expanded(limits))
        try:
            tar = stack.enter_context(tarfile.open(fileobj=stream, mode="r:"))  # type: ignore[call-overload]
            members = _scan(tar, MemberScanner(limits, size))
        except CORRUPT_ERRORS as exc:
            raise _damaged(exc) from exc
        stream.headers_only = False
        yield ScannedArchive(tar, members)


def _expanded(limits: Limits) -> Rejected:
    return Rejected(
        "expansion_limit", f"the archive expands to more than {limits.max_expansion_ratio}x its size"
    )


def _damaged(exc: Exception) -> Rejected:
    return Rejected("corrupt_archive", f"the archive is damaged: {str(exc)[:_MAX_ERROR_CHARS]}")


def _scan(tar: tarfile.TarFile, scanner: MemberScanner) -> dict[str, tarfile.TarInfo]:
    while (member := tar.next()) is not None:
        scanner.check(member, tar.pax_headers)
    _check_end(tar)
    return scanner.finish()


def _check_end(tar: tarfile.TarFile) -> None:
    """tarfile stops quietly at a damaged header after the first; only zeros (or nothing) may follow."""
    stream = tar.fileobj
    stream.seek(tar.offset)
    rest = stream.read(tarfile.BLOCKSIZE)
    if rest.strip(b"\0"):
        raise Rejected("corrupt_archive", f"the archive is damaged: a bad header at byte {tar.offset}")
