"""Debian packages: the ar layout checked by python-debian, control fields read with bounded memory."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

from debian.arfile import ArError, ArMember
from debian.deb822 import Deb822
from debian.debfile import DebError, DebFile

from services.transfer.errors import Rejected
from services.transfer.inspection.archives import CORRUPT_ERRORS, normal_name
from services.transfer.inspection.model import DEB, Inspection, Limits, normal_arch

__all__ = ["inspect_deb"]

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


def _control_fields(path: Path, limits: Limits) -> Deb822:
    with path.open("rb") as handle:
        try:
            deb = DebFile(fileobj=handle)
        except (DebError, ArError, OSError, ValueError) as exc:
            raise Rejected("bad_deb", f"not a valid deb package: {exc}") from exc
        name = next(n for n in deb.getnames() if n.startswith("control.tar"))
        part = deb.getmember(name)
        if part.size > _MAX_CONTROL_PART:
            raise Rejected("bad_deb", f"the deb's {name} is larger than {_MAX_CONTROL_PART // 2**20} MiB")
        with tempfile.SpooledTemporaryFile(max_size=_MAX_CONTROL_FILE) as control_tar:
            _decompress(part, name.removeprefix("control.tar").lstrip("."), control_tar, limits)
            control_tar.seek(0)
            data = _read_control(control_tar, limits)
    try:
        return Deb822(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected("bad_deb", f"the deb's control file cannot be parsed: {exc}") from exc


def _decompress(part: ArMember, compression: str, out: IO[bytes], limits: Limits) -> None:
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


def _unzstd(part: ArMember, out: IO[bytes], limits: Limits) -> None:
    """tarfile has no zstd support: the zstd tool decompresses, and we stop reading at the limit."""
    tool = shutil.which("zstd")
    if tool is None:
        raise Rejected("bad_deb", "zstd-compressed debs cannot be read here: the zstd tool is missing")
    with tempfile.TemporaryFile() as compressed:
        shutil.copyfileobj(part, compressed)  # type: ignore[misc]
        compressed.seek(0)
        command = [tool, "--decompress", "--stdout", "--quiet"]
        with subprocess.Popen(
            command, stdin=compressed, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        ) as process:
            assert process.stdout is not None
            try:
                _copy_bounded(process.stdout, out)
                returncode = process.wait(timeout=limits.timeout_seconds)
            finally:
                if process.poll() is None:
                    process.kill()
    if returncode != 0:
        raise Rejected("bad_deb", "the deb's control part is damaged (zstd could not decompress it)")


def _copy_bounded(source: IO[bytes], out: IO[bytes]) -> None:
    copied = 0
    while chunk := source.read(_COPY_CHUNK):
        copied += len(chunk)
        if copied > _MAX_CONTROL_TAR:
            raise Rejected(
                "bad_deb", f"the deb's control part expands beyond {_MAX_CONTROL_TAR // 2**20} MiB"
            )
        out.write(chunk)


def _read_control(control_tar: IO[bytes], limits: Limits) -> bytes:
    try:
        with tarfile.open(fileobj=control_tar, mode="r:") as tar:
            for count, member in enumerate(iter(tar.next, None)):
                if count >= limits.max_members:
                    break
                if normal_name(member.name) == "control" and member.isreg():
                    return _member_bytes(tar, member)
    except CORRUPT_ERRORS as exc:
        raise Rejected("bad_deb", f"the deb's control part is damaged: {exc}") from exc
    raise Rejected("bad_deb", "the deb has no control file")


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > _MAX_CONTROL_FILE:
        raise Rejected("bad_deb", "the deb's control file is larger than 1 MiB")
    handle = tar.extractfile(member)
    assert handle is not None
    with handle:
        return handle.read(member.size)
