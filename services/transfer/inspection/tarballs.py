"""Tar packages: install.sh at the root, optional uninstall.sh, optional convoy.json manifest."""

from __future__ import annotations

from typing import Any

from services.transfer.errors import Rejected
from services.transfer.inspection.archives import ScannedArchive
from services.transfer.inspection.model import TAR, Inspection, normal_arch

__all__ = ["INSTALL_SCRIPT", "UNINSTALL_SCRIPT", "MANIFEST", "MAX_MANIFEST_BYTES", "inspect_tar_package"]

INSTALL_SCRIPT, UNINSTALL_SCRIPT, MANIFEST = "install.sh", "uninstall.sh", "convoy.json"
MAX_MANIFEST_BYTES = 64 * 1024
_MANIFEST_FIELDS = ("name", "version", "description", "arch")


def inspect_tar_package(archive: ScannedArchive) -> Inspection:
    if archive.regular(INSTALL_SCRIPT) is None:
        raise Rejected(
            "missing_install_script", f"{INSTALL_SCRIPT} at the archive root must be a regular file"
        )
    fields = _manifest(archive)
    return Inspection(
        format=TAR,
        name=fields.get("name", ""),
        version=fields.get("version", ""),
        arch=normal_arch(fields.get("arch") or "noarch"),
        description=fields.get("description", ""),
        has_uninstall_script=archive.regular(UNINSTALL_SCRIPT) is not None,
    )


def _manifest(archive: ScannedArchive) -> dict[str, str]:
    """The root convoy.json's fields, or nothing when there is none."""
    if MANIFEST not in archive.members:
        return {}
    value = _manifest_document(archive)
    if not isinstance(value, dict):
        raise Rejected("bad_manifest", f"{MANIFEST} must be a JSON object")
    for key in _MANIFEST_FIELDS:
        if key in value and not isinstance(value[key], str):
            raise Rejected("bad_manifest", f"{MANIFEST} field {key!r} must be a string")
    return {key: value[key].strip() for key in _MANIFEST_FIELDS if key in value}


def _manifest_document(archive: ScannedArchive) -> Any:
    return archive.read_json(MANIFEST, MAX_MANIFEST_BYTES, reason="bad_manifest")
