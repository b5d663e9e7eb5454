"""What inspection reports about an artifact, and the limits it enforces."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEB", "RPM", "TAR", "CONTAINER", "Inspection", "Limits", "normal_arch"]

DEB, RPM, TAR, CONTAINER = "deb", "rpm", "tar", "container"

_ARCH_NAMES = {"amd64": "x86_64", "arm64": "aarch64", "all": "noarch"}


def normal_arch(arch: str) -> str:
    """Debian and OCI architecture names as rpm spells them; other names are kept as given."""
    return _ARCH_NAMES.get(arch, arch)


@dataclass(frozen=True)
class Inspection:
    format: str
    name: str = ""
    version: str = ""
    release: str = ""
    arch: str = ""
    depends: tuple[str, ...] = ()
    description: str = ""
    image_name: str = ""
    image_tag: str = ""
    has_uninstall_script: bool = False


@dataclass(frozen=True)
class Limits:
    max_members: int = 10_000
    max_expansion_ratio: int = 100
    timeout_seconds: float = 60.0
