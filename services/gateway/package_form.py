"""Turns an upload's form fields plus transfer's inspection into a catalog registration, refusing contradictions."""

from __future__ import annotations

import operator
from collections.abc import Callable

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from services.gateway.errors import ApiError
from services.gateway.schemas_packages import FAMILY_VALUES, FORMAT, FORMAT_VALUES
from services.kit.arch import NOARCH, normalise_arch
from services.kit.versions import split_epoch

__all__ = ["FORM_FIELDS", "check_field", "registration"]

FORM_FIELDS = {
    "software_name": "defaults to the name inside the package",
    "version": "defaults to the version inside the package",
    "release": "rpm release, tar and container only; defaults to the package's own",
    "format": "deb, rpm, tar or container; must match the content",
    "arch": "x86_64, aarch64, noarch …; defaults to the package's own",
    "description": "defaults to the package's own",
    "os_families": "tar and container only: deb, rpm or deb,rpm (default both)",
}
# Container images name themselves by repository and tag, which operators may map to other software names.
_SELF_NAMED = {"deb", "rpm", "tar"}


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_argument", message)


def check_field(name: str, value: str) -> None:
    """Refuses an unknown field or format as soon as it arrives, before any of the file is sent on."""
    if name not in FORM_FIELDS:
        raise _bad(f"unknown form field {name[:100]!r}; known: file, {', '.join(FORM_FIELDS)}")
    if name == "format" and value and value not in FORMAT_VALUES:
        raise _bad(f"format must be one of {', '.join(FORMAT_VALUES)}, got {value[:100]!r}")


def _same_text(given: str, found: str) -> bool:
    # Catalog stores software names in lowercase, so case alone is no contradiction (rpm's "PyYAML").
    return given.lower() == found.lower()


def _same_arch(given: str, found: str) -> bool:
    # Catalog stores the normalised name, so "amd64" in the form agrees with an x86_64 package.
    return normalise_arch(given) == normalise_arch(found)


def _epoch_number(epoch: str) -> str:
    # Compared as text without leading zeros: int() of an epoch thousands of digits long would raise.
    return epoch.lstrip("0") or "0"


def _same_version(given: str, found: str) -> bool:
    """Equal by the package tools' rules: epoch 0 is no epoch, and a form that leaves the epoch out still
    names the package's own version (people copy "2.0-3" from a file name, rpm says "1:2.0-3")."""
    given_epoch, given_rest = split_epoch(given)
    found_epoch, found_rest = split_epoch(found)
    epoch_left_out = given_rest == given
    return given_rest == found_rest and (
        epoch_left_out or _epoch_number(given_epoch) == _epoch_number(found_epoch)
    )


def _pick(
    what: str, given: str, found: str, *, strict: bool, same: Callable[[str, str], bool] = operator.eq
) -> str:
    """The given value unless the package says otherwise; a contradiction is the caller's mistake.

    When both agree the package's own spelling wins ("1:2.0" over "2.0", "x86_64" over "amd64"): it is
    what the node's package tool reports back.
    """
    given = given.strip()
    if not (strict and found):
        return given or found
    if given and not same(given, found):
        raise _bad(f"{what} {given!r} contradicts the package, which says {found!r}")
    return found


def _version_alone(given: str, found: transfer_pb.Inspection, fmt: str) -> str:
    """An rpm version given with its release ("1:2.0-3") without the release, when the release matches."""
    suffix = f"-{found.release}"
    if fmt == "rpm" and found.release and given.endswith(suffix):
        return given[: -len(suffix)]
    return given


def _version(fields: dict[str, str], found: transfer_pb.Inspection, fmt: str) -> tuple[str, str]:
    release = _pick("release", fields.get("release", ""), found.release, strict=fmt == "rpm")
    if fmt == "deb" and release:
        raise _bad("deb packages carry their revision inside the version; leave release empty")
    given = _version_alone(fields.get("version", "").strip(), found, fmt)
    strict = fmt in _SELF_NAMED
    return _pick("version", given, found.version, strict=strict, same=_same_version), release


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


def _format(fields: dict[str, str], found: transfer_pb.Inspection) -> str:
    for name, value in fields.items():
        check_field(name, value)
    fmt = FORMAT.name(found.format) or ""
    declared = fields.get("format", "")
    if declared and declared != fmt:
        raise _bad(f"declared {declared} but the content is a {fmt or 'unrecognised'} package")
    return fmt


def registration(
    fields: dict[str, str], found: transfer_pb.Inspection, sha256: str
) -> catalog_pb.CreatePackageRequest:
    """The catalog request for an uploaded artifact; 400 when the form and the content disagree."""
    fmt = _format(fields, found)
    given_name = fields.get("software_name", "")
    name = _pick("software_name", given_name, found.name, strict=fmt in _SELF_NAMED, same=_same_text)
    version, release = _version(fields, found, fmt)
    if not name or not version:
        raise _bad("the package does not say its software name and version: send software_name and version")
    arch = _pick("arch", fields.get("arch", ""), found.arch, strict=fmt in ("deb", "rpm"), same=_same_arch)
    request = catalog_pb.CreatePackageRequest(
        software_name=name,
        version=version,
        format=FORMAT_VALUES[fmt],
        arch=arch or NOARCH,
        package_families=_families(fields, fmt),
        description=fields.get("description", "") or found.description,
        depends=list(found.depends),
        artifact_sha256=sha256,
    )
    if release:
        request.release = release
    return request
