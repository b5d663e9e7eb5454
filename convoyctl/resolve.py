"""Names people type (a hostname, a group name, `software=version`) turned into the ids the API takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from convoyctl.client import ApiClient
from convoyctl.errors import NotFound, UsageError

__all__ = [
    "PackageSpec",
    "looks_like_id",
    "parse_package",
    "full_version",
    "server_id",
    "group_id",
    "find_package",
]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def looks_like_id(text: str) -> bool:
    """Ids are UUIDs; anything else is taken for a name."""
    return bool(_UUID.fullmatch(text))


@dataclass(frozen=True)
class PackageSpec:
    """A package id, or a software name with an optional version (`name` or `name=version`)."""

    package_id: str | None = None
    software: str | None = None
    version: str | None = None


def parse_package(text: str) -> PackageSpec:
    text = text.strip()
    if looks_like_id(text):
        return PackageSpec(package_id=text)
    name, equals, version = text.partition("=")
    name, version = name.strip(), version.strip()
    if not name or (equals and not version):
        raise UsageError(f"give the package as NAME, NAME=VERSION or a package id, got {text!r}")
    return PackageSpec(software=name, version=version or None)


def full_version(package: dict[str, Any]) -> str:
    """version-release for rpm-style packages, the version alone otherwise (as nodes report it)."""
    release = package.get("release") or ""
    return f"{package['version']}-{release}" if release else str(package["version"])


def server_id(api: ApiClient, text: str) -> str:
    """The id of the server with this id or exact hostname."""
    if looks_like_id(text):
        return text
    found = [s for s in api.walk("/api/v1/servers", {"q": text}) if s["hostname"] == text]
    return _one(found, "server", text, lambda s: f"{s['id']} ({s['ip_address']})")["id"]


def group_id(api: ApiClient, text: str) -> str:
    """The id of the group with this id or exact name."""
    if looks_like_id(text):
        return text
    found = [g for g in api.walk("/api/v1/groups", {"q": text}) if g["name"] == text]
    return _one(found, "group", text, lambda g: g["id"])["id"]


def _one(found: list[dict[str, Any]], what: str, text: str, describe: Any) -> dict[str, Any]:
    if not found:
        raise NotFound(f"no {what} named {text!r}")
    if len(found) > 1:
        listed = ", ".join(describe(item) for item in found)
        raise UsageError(f"{len(found)} {what}s are named {text!r}: give the id ({listed})")
    return found[0]


def find_package(
    api: ApiClient, spec: PackageSpec, *, fmt: str | None = None, arch: str | None = None
) -> dict[str, Any]:
    """The package a spec means: by id; or the software's given version (or newest), narrowed by format
    and arch. Two builds of that version left (deb and rpm, two arches) is ambiguous: a deployment
    installs one package."""
    if spec.package_id:
        package: dict[str, Any] = api.get(f"/api/v1/packages/{spec.package_id}")
        return package
    assert spec.software is not None
    params = {"format": fmt, "arch": arch}
    # Newest first, by the format's own version order.
    versions = api.walk(f"/api/v1/software/{quote(spec.software, safe='')}/versions", params)
    narrowed = " ".join(f"{key} {value}" for key, value in params.items() if value)
    if not versions:
        raise NotFound(f"no package of software {spec.software!r}" + (f" ({narrowed})" if narrowed else ""))
    wanted = spec.version or full_version(versions[0])
    chosen = [p for p in versions if wanted in (p["version"], full_version(p))]
    if not chosen:
        known = ", ".join(dict.fromkeys(full_version(p) for p in versions))
        raise NotFound(f"software {spec.software!r} has no version {wanted!r}; it has {known}")
    if len(chosen) > 1:
        builds = "; ".join(f"{p['id']} {p['format']} {p['arch']}" for p in chosen)
        raise UsageError(
            f"{spec.software} {wanted} has {len(chosen)} builds ({builds}): "
            "narrow with --format or --arch, or give the package id"
        )
    return chosen[0]
