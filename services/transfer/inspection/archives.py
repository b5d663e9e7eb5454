"""Reads tar archives without extracting them, refusing members that could escape, explode or surprise."""

from __future__ import annotations

import gzip
import posixpath
import stat
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from services.transfer.errors import Rejected
from services.transfer.inspection.model import Limits

__all__ = ["ScannedArchive", "open_archive", "normal_name", "CORRUPT_ERRORS"]

# What a damaged tar or gzip stream raises while being read.
CORRUPT_ERRORS = (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, UnicodeError)
# No header or small file we read is anywhere near this; a bigger read is an attack on memory.
_MAX_READ = 8 * 1024 * 1024
# Room for headers, padding and long-name records on top of the members' declared contents.
_OVERHEAD_PER_MEMBER = 4096
_MAX_LINK_DEPTH = 40
_DEVICE_KINDS = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}


class _BoundedStream:
    """A read-only view of a (decompressed) stream that refuses to go past `limit` bytes.

    tarfile reads long-name and pax records whole and skips member data by seeking, which decompresses;
    this is the backstop that keeps both bounded whatever the headers claim.
    """

    def __init__(self, stream: BinaryIO, limit: int, ratio: int) -> None:
        self._stream, self._limit, self._ratio = stream, limit, ratio

    def _refuse(self) -> Rejected:
        return Rejected("expansion_limit", f"the archive expands to more than {self._ratio}x its size")

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > _MAX_READ:
            raise Rejected("corrupt_archive", "the archive has a header record that is too large")
        if self._stream.tell() + size > self._limit:
            raise self._refuse()
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset + (self._stream.tell() if whence == 1 else 0)
        if whence not in (0, 1) or target > self._limit:
            raise self._refuse()
        return self._stream.seek(target)

    def tell(self) -> int:
        return self._stream.tell()


def normal_name(name: str) -> str:
    """A member path relative to the archive root ("./a/b/" → "a/b", the root itself → ".")."""
    return posixpath.normpath(name.lstrip("/") or ".")


@dataclass
class _Links:
    """Symlinks seen so far, by where they sit once earlier symlinks are followed."""

    targets: dict[str, str] = field(default_factory=dict)

    def resolve(self, path: str, depth: int = 0) -> str | None:
        """Where `path` (relative to the root) lands after following the archive's own symlinks, the way
        an extraction would; None when it leaves the root (or loops)."""
        if depth > _MAX_LINK_DEPTH:
            return None
        parts: list[str] = []
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    return None
                parts.pop()
                continue
            parts.append(part)
            target = self.targets.get("/".join(parts))
            if target is not None:
                landed = self._follow(parts[:-1], target, depth)
                if landed is None:
                    return None
                parts = landed.split("/") if landed != "." else []
        return "/".join(parts) or "."

    def _follow(self, parent: list[str], target: str, depth: int) -> str | None:
        if target.startswith("/"):
            return None
        return self.resolve("/".join([*parent, target]), depth + 1)


@dataclass
class ScannedArchive:
    """An archive whose every member passed the checks; small members can then be read by name."""

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
        handle = self.tar.extractfile(info)
        if handle is None:
            return None
        with handle:
            return handle.read(info.size)


class _Scanner:
    """Checks each member as it is reached, before the next one is read (and decompressed)."""

    def __init__(self, limits: Limits, archive_size: int) -> None:
        self.limits = limits
        self.content_limit = limits.max_expansion_ratio * max(archive_size, 1)
        self.links = _Links()
        self.members: dict[str, tarfile.TarInfo] = {}
        self.count = self.declared = 0

    def check(self, member: tarfile.TarInfo) -> None:
        # Counted per entry, not per path: repeating one name must not get around the limit.
        self.count += 1
        if self.count > self.limits.max_members:
            raise Rejected("too_many_members", f"the archive has more than {self.limits.max_members} members")
        self._check_kind(member)
        where = self._check_path(member)
        if member.issym():
            self._check_symlink(member, where)
        elif member.islnk():
            self._check_hardlink(member)
        self.declared += member.size
        if self.declared > self.content_limit:
            raise Rejected(
                "expansion_limit",
                f"member {member.name!r} brings the archive's contents to {self.declared} bytes, more than "
                f"{self.limits.max_expansion_ratio}x the archive's size",
            )
        self.members[where] = member

    def _check_kind(self, member: tarfile.TarInfo) -> None:
        kind = _DEVICE_KINDS.get(member.type)
        if kind is not None:
            raise Rejected("device_file", f"member {member.name!r} is a {kind}")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise Rejected("unsupported_member", f"member {member.name!r} has an unsupported type")
        if member.mode & stat.S_ISUID:
            raise Rejected("setuid", f"member {member.name!r} has the setuid bit set")
        if member.mode & stat.S_ISGID:
            raise Rejected("setuid", f"member {member.name!r} has the setgid bit set")

    def _check_path(self, member: tarfile.TarInfo) -> str:
        """The member's place once extracted, through the symlinks before it; it must stay inside the root."""
        name = member.name
        if not name:
            raise Rejected("unsafe_path", "the archive has a member with an empty name")
        if name.startswith("/"):
            raise Rejected("unsafe_path", f"member {name!r} has an absolute path")
        parent, base = posixpath.split(name)
        if base in ("", ".", ".."):
            where = self.links.resolve(name)
        else:
            above = self.links.resolve(parent) if parent else "."
            where = None if above is None else normal_name(posixpath.join(above, base))
        if where is None:
            raise Rejected("unsafe_path", f"member {name!r} escapes the archive root")
        return where

    def _check_symlink(self, member: tarfile.TarInfo, where: str) -> None:
        target = member.linkname
        if target.startswith("/"):
            raise Rejected("unsafe_link", f"symlink {member.name!r} points to the absolute path {target!r}")
        if self.links.resolve(posixpath.join(posixpath.dirname(where), target)) is None:
            raise Rejected("unsafe_link", f"symlink {member.name!r} points outside the archive ({target!r})")
        self.links.targets[where] = target

    def _check_hardlink(self, member: tarfile.TarInfo) -> None:
        target = member.linkname
        if target.startswith("/"):
            raise Rejected("unsafe_link", f"hardlink {member.name!r} points to the absolute path {target!r}")
        if self.links.resolve(target) is None:
            raise Rejected("unsafe_link", f"hardlink {member.name!r} points outside the archive ({target!r})")


@contextmanager
def open_archive(path: Path, *, compressed: bool, limits: Limits) -> Iterator[ScannedArchive]:
    """Scans every member of the (gzip-compressed) tar at `path`; yields it only when all passed."""
    size = path.stat().st_size
    stream_limit = limits.max_expansion_ratio * max(size, 1) + (limits.max_members + 2) * _OVERHEAD_PER_MEMBER
    with ExitStack() as stack:
        raw: BinaryIO = stack.enter_context(path.open("rb"))
        if compressed:
            raw = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        try:
            bounded = _BoundedStream(raw, stream_limit, limits.max_expansion_ratio)
            tar = stack.enter_context(tarfile.open(fileobj=bounded, mode="r:"))  # type: ignore[call-overload]
            yield ScannedArchive(tar, _scan(tar, _Scanner(limits, size)))
        except CORRUPT_ERRORS as exc:
            raise Rejected("corrupt_archive", f"the archive is damaged: {exc}") from exc


def _scan(tar: tarfile.TarFile, scanner: _Scanner) -> dict[str, tarfile.TarInfo]:
    while (member := tar.next()) is not None:
        scanner.check(member)
    _check_end(tar)
    return scanner.members


def _check_end(tar: tarfile.TarFile) -> None:
    """tarfile stops quietly at a damaged header after the first; only zeros (or nothing) may follow."""
    stream = tar.fileobj
    stream.seek(tar.offset)
    rest = stream.read(tarfile.BLOCKSIZE)
    if rest.strip(b"\0"):
        raise Rejected("corrupt_archive", f"the archive is damaged: a bad header at byte {tar.offset}")
