"""Turns an upload's form fields plus transfer's inspection into a catalog registration, refusing contradictions."""

from __future__ import annotations

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from services.gateway.errors import ApiError
from services.gateway.schemas_packages import FAMILY_VALUES, FORMAT_VALUES

__all__ = ["FORM_FIELDS", "registration"]

FORM_FIELDS = {
    "software_name": "defaults to the name inside the package",
    "version": "defaults to the version inside the package",
    "release": "rpm release, tar and container only; defaults to the package's own",
    "format": "deb, rpm, tar or container; must match the content",
    "arch": "x86_64, aarch64, noarch …; defaults to the package's own",
    "description": "defaults to the package's own",
    "os_families": "tar and container only: deb, rpm or deb,rpm (default both)",
}
_FORMAT_NAMES = {value: name for name, value in FORMAT_VALUES.items()}
# Container images name themselves by repository and tag, which operators may map to other software names.
_SELF_NAMED = {"deb", "rpm", "tar"}


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_argument", message)


def _check_fields(fields: dict[str, str]) -> None:
    unknown = sorted(set(fields) - set(FORM_FIELDS))
    if unknown:
        raise _bad(f"unknown form field(s) {', '.join(unknown)}; known: file, {', '.join(FORM_FIELDS)}")
    declared = fields.get("format", "")
    if declared and declared not in FORMAT_VALUES:
        raise _bad(f"format must be one of {', '.join(FORMAT_VALUES)}, got {declared!r}")


def _pick(what: str, given: str, found: str, *, strict: bool) -> str:
    """The given value unless the package says otherwise; a contradiction is the caller's mistake."""
    if given and found and given != found and strict:
        raise _bad(f"{what} {given!r} contradicts the package, which says {found!r}")
    return given or found


def _version(fields: dict[str, str], found: transfer_pb.Inspection, fmt: str) -> tuple[str, str]:
    given = fields.get("version", "")
    if fmt == "rpm" and given and found.release and given == f"{found.version}-{found.release}":
        given = found.version
    version = _pick("version", given, found.version, strict=fmt in _SELF_NAMED)
    release = _pick("release", fields.get("release", ""), found.release, strict=fmt == "rpm")
    if fmt == "deb" and release:
        raise _bad("deb packages carry their revision inside the version; leave release empty")
    return version, release


def _families(fields: dict[str, str], fmt: str) -> list[int]:
    text = fields.get("os_families", "").strip()
    if not text:
        return []
    if fmt in ("deb", "rpm"):
        raise _bad("os_families applies to tar and container packages only")
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FAMILY_VALUES]
    if unknown:
        raise _bad(f"os_families may list deb and rpm only, got {', '.join(unknown)}")
    return [FAMILY_VALUES[name] for name in dict.fromkeys(names)]


def registration(
    fields: dict[str, str], found: transfer_pb.Inspection, sha256: str
) -> catalog_pb.CreatePackageRequest:
    """The catalog request for an uploaded artifact; 400 when the form and the content disagree."""
    _check_fields(fields)
    fmt = _FORMAT_NAMES.get(found.format, "")
    declared = fields.get("format", "")
    if declared and declared != fmt:
        raise _bad(f"declared {declared} but the content is a {fmt or 'unrecognised'} package")
    name = _pick("software_name", fields.get("software_name", ""), found.name, strict=fmt in _SELF_NAMED)
    version, release = _version(fields, found, fmt)
    if not name or not version:
        raise _bad("the package does not say its software name and version: send software_name and version")
    request = catalog_pb.CreatePackageRequest(
        software_name=name,
        version=version,
        format=FORMAT_VALUES[fmt],
        arch=_pick("arch", fields.get("arch", ""), found.arch, strict=fmt in ("deb", "rpm")) or "noarch",
        package_families=_families(fields, fmt),
        description=fields.get("description", "") or found.description,
        depends=list(found.depends),
        artifact_sha256=sha256,
    )
    if release:
        request.release = release
    return request
