"""Pure decisions of CreateDeployment: the strategy's checks and defaults, which nodes a package fits,
and the batch each runnable target goes in. No I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from services.kit.arch import NOARCH, normalise_arch
from services.kit.errors import InvalidArgument

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_PAUSE_SECONDS",
    "StrategySpec",
    "check_strategy",
    "Resolved",
    "misfit",
    "assign_batches",
    "full_version",
    "version_matches",
]

# Without batch_size or batch_percent, nodes go ten at a time.
DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE = 100_000
MAX_PAUSE_SECONDS = 7 * 24 * 3600
_FAMILIES_BY_FORMAT = {"deb": ("deb",), "rpm": ("rpm",), "tar": ("deb", "rpm"), "container": ("deb", "rpm")}


@dataclass(frozen=True)
class StrategySpec:
    batch_size: int = 0
    batch_percent: int = 0
    max_failures: int = 0
    max_failure_percent: int = 0
    canary: bool = False
    pause_between_batches_seconds: int = 0
    require_approval: bool = False

    def as_json(self) -> dict[str, int | bool]:
        return {name: value for name, value in self.__dict__.items() if value}

    def batch_size_for(self, runnable: int) -> int:
        """Targets per batch: the count, or the percentage of runnable targets (at least one)."""
        if self.batch_size:
            return self.batch_size
        if self.batch_percent:
            return max(1, math.ceil(runnable * self.batch_percent / 100))
        return DEFAULT_BATCH_SIZE

    def failure_budget_for(self, runnable: int) -> int:
        """Failures allowed before the deployment pauses itself (0 by default: the first one pauses)."""
        if self.max_failure_percent:
            return math.floor(runnable * self.max_failure_percent / 100)
        return self.max_failures


def check_strategy(spec: StrategySpec) -> StrategySpec:
    if spec.batch_size and spec.batch_percent:
        raise InvalidArgument("strategy: set batch_size or batch_percent, not both")
    if not 0 <= spec.batch_size <= MAX_BATCH_SIZE:
        raise InvalidArgument(f"strategy.batch_size must be 0 (default) to {MAX_BATCH_SIZE}")
    if not 0 <= spec.batch_percent <= 100:
        raise InvalidArgument("strategy.batch_percent must be 0 (unset) to 100")
    if spec.max_failures and spec.max_failure_percent:
        raise InvalidArgument("strategy: set max_failures or max_failure_percent, not both")
    if not 0 <= spec.max_failures <= MAX_BATCH_SIZE:
        raise InvalidArgument(f"strategy.max_failures must be 0 to {MAX_BATCH_SIZE}")
    if not 0 <= spec.max_failure_percent <= 100:
        raise InvalidArgument("strategy.max_failure_percent must be 0 (unset) to 100")
    if not 0 <= spec.pause_between_batches_seconds <= MAX_PAUSE_SECONDS:
        raise InvalidArgument(f"strategy.pause_between_batches_seconds must be 0 to {MAX_PAUSE_SECONDS}")
    return spec


@dataclass(frozen=True)
class Resolved:
    """A node the target resolved to, as the planner needs it."""

    server_id: str
    hostname: str
    package_family: str
    arch: str


def misfit(format: str, families: Sequence[str], arch: str, node: Resolved) -> str:
    """Why the package cannot go on the node, or "" when it can."""
    families = tuple(families) or _FAMILIES_BY_FORMAT.get(format, ())
    if node.package_family not in families:
        if not node.package_family and len(families) < 2:
            return f"{format} package, node has not reported its package family (no agent yet)"
        if node.package_family:
            return f"{format} package, node uses {node.package_family}"
    arch = normalise_arch(arch)
    if arch in ("", NOARCH):
        return ""
    node_arch = normalise_arch(node.arch)
    if not node_arch:
        return f"package is {arch}, node has not reported its arch (no agent yet)"
    if node_arch != arch:
        return f"package is {arch}, node is {node_arch}"
    return ""


def assign_batches(count: int, batch_size: int) -> list[int]:
    """The batch of each of `count` runnable targets in order, from 1."""
    return [index // batch_size + 1 for index in range(count)]


def full_version(package: catalog_pb.Package) -> str:
    """The package's version with its release, as rpm writes it ("1.2-1"); the version alone without one."""
    return f"{package.version}-{package.release}" if package.release else package.version


def version_matches(package: catalog_pb.Package, wanted: str) -> bool:
    """Whether the catalog package is the exact version named (a policy's, or one a node reported),
    given with or without its release: "1.2" and "1.2-1" both name version 1.2, release 1."""
    return wanted in (package.version, full_version(package))
