"""Debian packages: the ar layout walked the way dpkg does, the control fields parsed by python-debian."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from debian.deb822 import Deb822

from services.transfer.errors import Rejected
from services.transfer.inspection.archives import CORRUPT_ERRORS, normal_name
from services.transfer.inspection.model import DEB, Inspection, Limits, normal_arch
from services.transfer.inspection.streams import GuardedStream
from services.transfer.inspection.tools import Ran, TooMuchOutput, TooSlow, run_tool

__all__ = ["inspect_deb"]

_AR_MAGIC, _AR_HEADER, _AR_END = b"!<arch>\n", 60, b"`\n"
# dpkg needs three members (debian-binary, control.tar, data.tar); it allows "_" members between them.
_MAX_AR_MEMBERS = 16
_MAX_FORMAT_VERSION = 64
# control.tar.* holds the control file, maintainer scripts and md5sums: small even for huge packages.
_MAX_CONTROL_PART = 16 * 1024 * 1024
_MAX_CONTROL_TAR = 64 * 1024 * 1024
_MAX_CONTROL_FILE = 1024 * 1024
_COPY_CHUNK = 64 * 1024
_REQUIRED = ("Package", "Version", "Architecture")
_DECOMPRESSORS: dict[str, Callable[[BinaryIO], IO[bytes]]] = {
    "gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "xz": lzma.LZMAFile,
    "lzma": lzma.LZMAFile,
    "bz2": bz2.BZ2File,
}


def inspect_deb(path: Path, limits: Limits) -> Inspection:
    fields = _control_fields(path, limits)
    missing = [name for name in _REQUIRED if not fields.get(name, "").strip()]
    if missing:
        raise Rejected("bad_deb", f"the deb's control file has no {', '.join(missing)} field")
    depends = fields.get("Depends", "")
    return Inspection(
        format=DEB,
        name=fields["Package"].strip(),
        version=fields["Version"].strip(),
        arch=normal_arch(fields["Architecture"].strip()),
        depends=tuple(item.strip() for item in depends.split(",") if item.strip()),
        description=fields.get("Description", "").split("\n", 1)[0].strip(),
    )


@dataclass(frozen=True)
class _ArMember:
    name: str
    offset: int
    size: int


class _Slice:
    """The bytes of one ar member, read from the package file without going past them."""

    def __init__(self, handle: BinaryIO, member: _ArMember) -> None:
        self._handle, self._position, self._end = handle, member.offset, member.offset + member.size

    def read(self, size: int = -1) -> bytes:
        size = self._end - self._position if size < 0 else min(size, self._end - self._position)
        self._handle.seek(self._position)
        data = self._handle.read(size)
        self._position += len(data)
        return data


def _control_fields(path: Path, limits: Limits) -> Deb822:
    with path.open("rb") as handle:
        part = _control_part(handle, path.stat().st_size)
        with tempfile.SpooledTemporaryFile(max_size=_MAX_CONTROL_FILE) as control_tar:
            _decompress(
                _Slice(handle, part), part.name.removeprefix("control.tar").lstrip("."), control_tar, limits
            )
            control_tar.seek(0)
            data = _read_control(control_tar, limits)
    try:
        return Deb822(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected("bad_deb", f"the deb's control file cannot be parsed: {exc}") from exc


def _control_part(handle: BinaryIO, file_size: int) -> _ArMember:
    """control.tar.*, checked to sit where dpkg looks: after debian-binary, before data.tar.*."""
    members = _ar_members(handle, file_size)
    _check_format_version(handle, next(members, None))
    control = None
    for member in members:
        if member.name.startswith("_"):
            continue  # reserved for signatures and the like; dpkg skips them too
        if control is None and member.name.startswith("control.tar"):
            control = member
        elif control is not None and member.name.startswith("data.tar"):
            return _check_control_size(control)
        else:
            break
    raise Rejected("bad_deb", "not a valid deb package: it needs control.tar.* and then data.tar.*")


def _check_control_size(control: _ArMember) -> _ArMember:
    if control.size > _MAX_CONTROL_PART:
        raise Rejected("bad_deb", f"the deb's {control.name} is larger than {_MAX_CONTROL_PART // 2**20} MiB")
    return control


# Not python-debian's DebFile: it indexes every ar member before anything can be checked, and a header
# with a negative size sends it round the same header until memory runs out.
def _ar_members(handle: BinaryIO, file_size: int) -> Iterator[_ArMember]:
    if handle.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise Rejected("bad_deb", "not a valid deb package: no ar header")
    offset = len(_AR_MAGIC)
    for _ in range(_MAX_AR_MEMBERS):
        handle.seek(offset)
        header = handle.read(_AR_HEADER)
        if not header:
            return
        member = _parse_ar_header(header, offset + _AR_HEADER, file_size)
        yield member
        offset = member.offset + member.size + member.size % 2  # members start on even offsets
    raise Rejected("bad_deb", f"not a valid deb package: more than {_MAX_AR_MEMBERS} ar members")


def _parse_ar_header(header: bytes, offset: int, file_size: int) -> _ArMember:
    size = header[48:58].strip()
    if len(header) < _AR_HEADER or header[58:60] != _AR_END or not size.isdigit():
        raise Rejected("bad_deb", "not a valid deb package: a damaged ar member header")
    member = _ArMember(
        header[:16].rstrip(b" ").removesuffix(b"/").decode("ascii", "replace"), offset, int(size)
    )
    if member.offset + member.size > file_size:
        raise Rejected("bad_deb", f"not a valid deb package: ar member {member.name!r} is cut short")
    return member


def _check_format_version(handle: BinaryIO, first: _ArMember | None) -> None:
    if first is None or first.name != "debian-binary" or first.size > _MAX_FORMAT_VERSION:
        raise Rejected("bad_deb", "not a valid deb package: it must start with a short debian-binary")
    version = _Slice(handle, first).read()
    if not version.startswith(b"2."):
        raise Rejected("bad_deb", "not a valid deb package: only format 2.x is supported")


def _decompress(part: _Slice, compression: str, out: IO[bytes], limits: Limits) -> None:
    """Unpacks control.tar.* into `out`, refusing to write more than _MAX_CONTROL_TAR bytes."""
    if compression == "zst":
        _unzstd(part, out, limits)
        return
    if compression == "":
        _copy_bounded(part, out)  # type: ignore[arg-type]
        return
    opener = _DECOMPRESSORS.get(compression)
    if opener is None:
        raise Rejected("bad_deb", f"the deb's control part uses an unknown compression ({compression!r})")
    try:
        with opener(part) as stream:  # type: ignore[arg-type]
            _copy_bounded(stream, out)
    except (*CORRUPT_ERRORS, lzma.LZMAError, OSError) as exc:
        raise Rejected("bad_deb", f"the deb's control part is damaged: {exc}") from exc


def _unzstd(part: _Slice, out: IO[bytes], limits: Limits) -> None:
    """tarfile has no zstd support: the zstd tool decompresses, bounded in time and in what it writes."""
    tool = shutil.which("zstd")
    if tool is None:
        raise Rejected("bad_deb", "zstd-compressed debs cannot be read here: the zstd tool is missing")
    with tempfile.TemporaryFile() as compressed:
        shutil.copyfileobj(part, compressed)  # type: ignore[misc]
        compressed.seek(0)
        ran = _run_zstd([tool, "--decompress", "--stdout", "--quiet"], compressed, out, limits)
    if ran.returncode != 0:
        raise Rejected("bad_deb", "the deb's control part is damaged (zstd could not decompress it)")


def _run_zstd(command: list[str], compressed: IO[bytes], out: IO[bytes], limits: Limits) -> Ran:
    """zstd run by the bounded runner, its being stopped told to the uploader in the deb's terms."""
    try:
        return run_tool(
            command, out, stdin=compressed, timeout=limits.timeout_seconds, max_output=_MAX_CONTROL_TAR
        )
    except TooSlow as exc:
        message = f"zstd took longer than {limits.timeout_seconds:g}s to unpack the deb's control part"
        raise Rejected("bad_deb", message) from exc
    except TooMuchOutput as exc:
        raise _control_too_large() from exc


def _copy_bounded(source: IO[bytes], out: IO[bytes]) -> None:
    copied = 0
    while chunk := source.read(_COPY_CHUNK):
        copied += len(chunk)
        if copied > _MAX_CONTROL_TAR:
            raise _control_too_large()
        out.write(chunk)


def _read_control(control_tar: IO[bytes], limits: Limits) -> bytes:
    # The same guard as for tar packages: the control tar is as much the uploader's as the rest.
    stream = GuardedStream(control_tar, _MAX_CONTROL_TAR, _control_too_large, reason="bad_deb")  # type: ignore[arg-type]
    try:
        with tarfile.open(fileobj=stream, mode="r:") as tar:  # type: ignore[call-overload]
            for _ in range(limits.max_members):
                member = tar.next()
                if member is None:
                    break
                if normal_name(member.name) == "control" and member.isreg():
                    stream.headers_only = False
                    return _member_bytes(tar, member)
    except CORRUPT_ERRORS as exc:
        raise Rejected("bad_deb", f"the deb's control part is damaged: {exc}") from exc
    raise Rejected("bad_deb", "the deb has no control file")


def _control_too_large() -> Rejected:
    return Rejected("bad_deb", f"the deb's control part expands beyond {_MAX_CONTROL_TAR // 2**20} MiB")


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > _MAX_CONTROL_FILE:
        raise Rejected("bad_deb", "the deb's control file is larger than 1 MiB")
    handle = tar.extractfile(member)
    assert handle is not None, "a regular member always has contents"
    with handle:
        return handle.read(member.size)
