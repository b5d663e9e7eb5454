"""Validates and inspects an uploaded artifact by its content: deb, rpm, tar package or container image."""

from __future__ import annotations

import gzip
from pathlib import Path

from services.transfer.errors import Rejected
from services.transfer.inspection.archives import CORRUPT_ERRORS, ScannedArchive, open_archive
from services.transfer.inspection.debs import inspect_deb
from services.transfer.inspection.images import inspect_image, is_image
from services.transfer.inspection.model import CONTAINER, DEB, RPM, TAR, Inspection, Limits, normal_arch
from services.transfer.inspection.rpms import inspect_rpm
from services.transfer.inspection.tarballs import INSTALL_SCRIPT, inspect_tar_package

__all__ = [
    "DEB",
    "RPM",
    "TAR",
    "CONTAINER",
    "Inspection",
    "Limits",
    "detect",
    "inspect_artifact",
    "normal_arch",
]

_AR_MAGIC, _RPM_MAGIC, _GZIP_MAGIC = b"!<arch>\n", b"\xed\xab\xee\xdb", b"\x1f\x8b"
_TAR_GZ = "tar.gz"


def detect(path: Path) -> str | None:
    """The kind of archive from its first bytes, never from its name: deb, rpm, tar, tar.gz or None."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if head.startswith(_AR_MAGIC) and head[len(_AR_MAGIC) :].startswith(b"debian-binary"):
        return DEB
    if head.startswith(_RPM_MAGIC):
        return RPM
    if head.startswith(_GZIP_MAGIC):
        return _TAR_GZ if _gzip_holds_tar(path) else None
    return TAR if _is_tar_header(head) else None


def _is_tar_header(block: bytes) -> bool:
    # POSIX ("ustar\0") and GNU ("ustar  ") headers both start their magic this way.
    return block[257:262] == b"ustar"


def _gzip_holds_tar(path: Path) -> bool:
    """A damaged gzip counts as a tar.gz, so the uploader hears that it is damaged."""
    try:
        with gzip.open(path, "rb") as stream:
            return _is_tar_header(stream.read(512))
    except CORRUPT_ERRORS:
        return True


def inspect_artifact(path: Path, limits: Limits) -> Inspection:
    """What the artifact at `path` is; raises Rejected (with the reason) when it is unsafe or unknown."""
    kind = detect(path)
    if kind == DEB:
        return inspect_deb(path, limits)
    if kind == RPM:
        return inspect_rpm(path, limits)
    if kind in (TAR, _TAR_GZ):
        with open_archive(path, compressed=kind == _TAR_GZ, limits=limits) as archive:
            return _inspect_tar(archive)
    raise Rejected("unknown_format", "not a deb, rpm, tar or container image archive")


def _inspect_tar(archive: ScannedArchive) -> Inspection:
    """install.sh makes a tar package; otherwise an image manifest makes a container archive."""
    if INSTALL_SCRIPT in archive.members:
        return inspect_tar_package(archive)
    if is_image(archive):
        return inspect_image(archive)
    raise Rejected(
        "missing_install_script",
        f"the tar archive has no {INSTALL_SCRIPT} at its root and is not a container image archive",
    )
