"""One spelling per CPU architecture, so that catalog, the upload form and the planner agree on what fits."""

from __future__ import annotations

__all__ = ["NOARCH", "ARCH_ALIASES", "normalise_arch"]

NOARCH = "noarch"
# Debian's and OCI's names for the common architectures (and the "x64" some tools print), mapped to the
# names nodes report (uname -m) and rpm uses.
ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "all": NOARCH}


def normalise_arch(arch: str) -> str:
    """`arch` as stored and compared: trimmed, lowercase, an alias replaced by its name ("amd64" is
    "x86_64")."""
    arch = arch.strip().lower()
    return ARCH_ALIASES.get(arch, arch)
