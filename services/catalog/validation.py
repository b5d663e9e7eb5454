"""Checks and normalises what callers say about a package, with messages that name the problem.

Software names are lowercase, as Debian and most rpm distributions write them: a name is stored in
lowercase whatever case it was given in, so "MyApp" and "myapp" are one software.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from debian.debian_support import Version as DebianVersion

from services.kit.arch import NOARCH, normalise_arch
from services.kit.errors import InvalidArgument
from services.kit.text import LINE_BREAKS, has_control
from services.kit.text import check_description as _check_description
from services.kit.text import check_query as _check_query

__all__ = [
    "FORMATS",
    "FAMILIES",
    "NOARCH",
    "check_software_name",
    "check_format",
    "check_family",
    "check_families",
    "check_arch",
    "check_version",
    "check_sha256",
    "check_description",
    "check_depends",
    "check_signature",
    "check_holder",
    "check_query",
]

FORMATS = ("deb", "rpm", "tar", "container")
FAMILIES = ("deb", "rpm")

_NAME = re.compile(r"^[a-z0-9][a-z0-9.+_-]{0,127}$")
_ARCH = re.compile(r"^[a-z0-9_]{1,32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RPM_VERSION = re.compile(r"^([0-9]+:)?[A-Za-z0-9][A-Za-z0-9._+~^]*$")
_RPM_RELEASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~^]*$")
_HOLDER = re.compile(r"^[\x21-\x7e]{1,200}$")
_MAX_VERSION_CHARS = 128
_MAX_DESCRIPTION_CHARS = 4096
_MAX_DEPENDS, _MAX_DEPEND_CHARS = 256, 512
_MAX_SIGNATURE_CHARS = 64 * 1024


def check_software_name(name: str) -> str:
    name = name.strip().lower()
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            "software_name must be 1-128 characters of lowercase letters, digits and '.+_-', "
            f"starting with a letter or digit; got {name[:200]!r}"
        )
    return name


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise InvalidArgument(f"format must be one of {', '.join(FORMATS)}")
    return value


def check_family(value: str) -> str:
    if value not in FAMILIES:
        raise InvalidArgument(f"package_family must be one of {', '.join(FAMILIES)}")
    return value


def check_families(format: str, given: Sequence[str]) -> list[str]:
    """deb and rpm packages install on their own family only; tar and container on any (default both)."""
    families = sorted({check_family(value) for value in given})
    if format in FAMILIES:
        if families and families != [format]:
            raise InvalidArgument(f"a {format} package can only be installed by the {format} family")
        return [format]
    return families or list(FAMILIES)


def check_arch(value: str) -> str:
    arch = normalise_arch(value)
    if not _ARCH.fullmatch(arch):
        raise InvalidArgument(
            "arch must be x86_64, aarch64, noarch or another architecture name of 1-32 lowercase "
            f"letters, digits and '_' (e.g. loongarch64, i686); got {value[:100]!r}"
        )
    return arch


def check_version(format: str, version: str, release: str) -> tuple[str, str]:
    """(version, release) checked by the rules of the format's own package tools."""
    version, release = version.strip(), release.strip()
    if not version:
        raise InvalidArgument("version is required")
    if len(version) > _MAX_VERSION_CHARS or len(release) > _MAX_VERSION_CHARS:
        raise InvalidArgument(f"version and release must be at most {_MAX_VERSION_CHARS} characters each")
    if format == "rpm":
        _check_rpm_version(version, release)
    else:
        _check_debian_version(format, version, release)
    return version, release


def _check_rpm_version(version: str, release: str) -> None:
    if "-" in version:
        raise InvalidArgument(
            f"an rpm version cannot contain '-' (got {version!r}); put the packaging release in release"
        )
    if not _RPM_VERSION.fullmatch(version):
        raise InvalidArgument(
            f"rpm version {version!r} is not valid: use letters, digits and '._+~^', "
            "optionally after an epoch such as '2:'"
        )
    if not release:
        raise InvalidArgument("an rpm package needs a release, e.g. '1.el9'")
    if not _RPM_RELEASE.fullmatch(release):
        raise InvalidArgument(
            f"rpm release {release!r} is not valid: use letters, digits and '._+~^', without '-'"
        )


def _check_debian_version(format: str, version: str, release: str) -> None:
    why = "" if format == "deb" else f"; {format} versions follow Debian ordering, e.g. 1.0~rc1 before 1.0"
    full = f"{version}-{release}" if release else version
    if release and "-" in release:
        raise InvalidArgument(f"release {release!r} is a Debian revision and cannot contain '-'{why}")
    try:
        parsed = DebianVersion(full)
    except ValueError as exc:
        raise InvalidArgument(f"version {full!r} is not a valid Debian version{why}") from exc
    # python-debian's \d takes any script's digits; dpkg takes only 0-9.
    if not (parsed.epoch or "0").isascii() or not parsed.upstream_version[:1].isdigit():
        raise InvalidArgument(f"version {full!r} must start with a digit 0-9 (after any epoch of 0-9){why}")
    if full.endswith("-"):
        raise InvalidArgument(f"version {full!r} has an empty Debian revision{why}")


def check_sha256(value: str) -> str:
    digest = value.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise InvalidArgument("artifact_sha256 must be the 64 hex digits of the artifact's SHA-256")
    return digest


def check_depends(values: Sequence[str]) -> list[str]:
    depends = [value.strip() for value in values]
    if len(depends) > _MAX_DEPENDS:
        raise InvalidArgument(f"a package may declare at most {_MAX_DEPENDS} dependencies")
    for value in depends:
        if not value or len(value) > _MAX_DEPEND_CHARS or not value.isprintable():
            raise InvalidArgument(
                f"each dependency must be 1-{_MAX_DEPEND_CHARS} printable characters, "
                f"e.g. 'libc6 (>= 2.31)'; got {value[:100]!r}"
            )
    return depends


def check_signature(value: str) -> str:
    text = value.strip()
    if len(text) > _MAX_SIGNATURE_CHARS or not text.isascii() or has_control(text, allowed=LINE_BREAKS):
        raise InvalidArgument(
            f"signature must be an ASCII-armoured detached signature of at most {_MAX_SIGNATURE_CHARS} bytes"
        )
    return text


def check_holder(value: str) -> str:
    if not _HOLDER.fullmatch(value):
        raise InvalidArgument(
            "holder must be 1-200 printable characters without spaces, e.g. 'scheduler.deployment:<id>'"
        )
    return value


def check_description(value: str) -> str:
    return _check_description(value, _MAX_DESCRIPTION_CHARS)


def check_query(value: str) -> str:
    """Lowercased, as software names are."""
    return _check_query(value, 200).lower()
