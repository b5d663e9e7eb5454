"""Pure decisions of the reconciler: which package a node should have under a policy, whether it has it,
and what the node's compliance is — with the facts gathered by the reconciler passed in. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from services.kit.versions import VersionKey
from services.scheduler.models import (
    ABSENT,
    COMPLIANT,
    CONVERGING,
    DRIFTED,
    ENFORCE,
    EXACT,
    FAILED,
    INCOMPATIBLE,
    INSTALL,
    ROLLBACK,
    UNINSTALL,
    UPDATE,
    Compliance,
    Policy,
)
from services.scheduler.planning import Resolved, full_version, misfit, version_matches

__all__ = [
    "FORMAT_NUMBERS",
    "FAMILIES",
    "Wish",
    "Busy",
    "NodeView",
    "Correction",
    "Verdict",
    "backoff",
    "desired_package",
    "same_version",
    "complies",
    "judge",
]

FORMAT_NUMBERS = {"deb": 1, "rpm": 2, "tar": 3, "container": 4}
FAMILIES = {inventory_pb.PACKAGE_FAMILY_DEB: "deb", inventory_pb.PACKAGE_FAMILY_RPM: "rpm"}


@dataclass(frozen=True)
class Wish:
    """What a policy wants on its nodes, as far as contradictions go."""

    state: str
    version: str  # "" for ABSENT, "latest", or the exact version

    @classmethod
    def of(cls, policy: Policy) -> Wish:
        if policy.desired_state == ABSENT:
            return cls(ABSENT, "")
        return cls(policy.desired_state, policy.exact_version if policy.version_mode == EXACT else "latest")

    def __str__(self) -> str:
        return self.state if self.state == ABSENT else f"{self.state} at {self.version}"


@dataclass(frozen=True)
class Busy:
    """An unfinished target of the software on the node, in whichever deployment."""

    deployment_id: str
    by_this_policy: bool
    created_by: str
    paused_reason: str  # set while the deployment is paused
    target_message: str


@dataclass(frozen=True)
class NodeView:
    """What the reconciler knows of one node now."""

    node: Resolved
    online: bool
    installed: str
    installed_family: str
    busy: Busy | None = None
    # Another enabled policy of the software that wants something else on this node.
    contradiction: str = ""


@dataclass(frozen=True)
class Correction:
    action: str
    package: catalog_pb.Package | None
    format: str


@dataclass(frozen=True)
class Verdict:
    state: str
    message: str
    desired_version: str
    # Set for a drifted node the policy corrects now.
    correction: Correction | None = None


def backoff(failures: int, base: float, ceiling: float) -> timedelta:
    """The wait after `failures` failed attempts in a row: base, 2×base, 4×base, … up to the ceiling."""
    return timedelta(seconds=min(base * 2 ** max(failures - 1, 0), ceiling))


def _installed_key(format: str, installed: str) -> VersionKey:
    """The installed version as the package database wrote it: rpm's "V-R", dpkg's full version."""
    if format == "rpm":
        version, dash, release = installed.rpartition("-")
        return VersionKey(format, version, release) if dash else VersionKey(format, installed, "")
    return VersionKey(format, installed, "")


def _package_key(package: catalog_pb.Package, format: str) -> VersionKey:
    return VersionKey(format, package.version, package.release)


def same_version(format: str, installed: str, package: catalog_pb.Package) -> bool:
    return bool(installed) and _installed_key(format, installed) == _package_key(package, format)


def format_of(package: catalog_pb.Package) -> str:
    return next(name for name, number in FORMAT_NUMBERS.items() if number == package.format)


def desired_package(
    policy: Policy, packages: dict[str, list[catalog_pb.Package]], node: Resolved
) -> tuple[catalog_pb.Package | None, str]:
    """The package the node should have (newest first within a format; the node's own family's format
    before tar and container), or None and why none fits."""
    formats = [format for format in (node.package_family, "tar", "container") if format in packages]
    wanted = policy.exact_version if policy.version_mode == EXACT else ""
    reason = ""
    for format in formats:
        for package in packages[format]:
            if wanted and not version_matches(package, wanted):
                continue
            families = [FAMILIES.get(family, "") for family in package.package_families]
            why = misfit(format, families, package.arch, node)
            if not why:
                return package, ""
            reason = reason or why
    version = f" {wanted}" if wanted else ""
    family = node.package_family or "unknown family"
    return None, reason or f"no package of {policy.software_name}{version} fits {family}/{node.arch or '?'}"


def _absent_format(packages: dict[str, list[catalog_pb.Package]], view: NodeView) -> str:
    """What removes the software: the family inventory recorded it under, else a tar or container package
    of it, else the node's own tool."""
    if view.installed_family:
        return view.installed_family
    tool = next((format for format in ("tar", "container") if format in packages), "")
    return tool or view.node.package_family or "deb"


def _action(policy: Policy, format: str, installed: str, package: catalog_pb.Package | None) -> str:
    if policy.desired_state == ABSENT or package is None:
        return UNINSTALL
    if not installed:
        return INSTALL
    # Going down needs the package tool told so (rpm refuses a plain downgrade).
    return ROLLBACK if _installed_key(format, installed) > _package_key(package, format) else UPDATE


def _busy_message(busy: Busy) -> str:
    by = "this policy" if busy.by_this_policy else busy.created_by
    if busy.paused_reason:
        return (
            f"deployment {busy.deployment_id} ({by}) is paused: {busy.paused_reason}; resume or cancel it "
            "(the policy does not start another one for this node meanwhile)"
        )
    if busy.target_message:
        return f"deployment {busy.deployment_id} ({by}): {busy.target_message}"
    return f"deployment {busy.deployment_id} ({by}) is changing this node"


def _drift_message(policy: Policy, installed: str, desired: str) -> str:
    if policy.desired_state == ABSENT:
        return f"{policy.software_name} {installed} is installed; the policy wants it absent"
    if not installed:
        return f"{policy.software_name} is not installed; the policy wants {desired}"
    return f"{policy.software_name} {installed} is installed; the policy wants {desired}"


def _complies(policy: Policy, view: NodeView, package: catalog_pb.Package | None, format: str) -> bool:
    if policy.desired_state == ABSENT:
        return not view.installed
    return package is not None and same_version(format, view.installed, package)


def complies(policy: Policy, view: NodeView, packages: dict[str, list[catalog_pb.Package]]) -> bool:
    """Whether the node has what the policy wants."""
    if policy.desired_state == ABSENT:
        return not view.installed
    package, _ = desired_package(policy, packages, view.node)
    return package is not None and same_version(format_of(package), view.installed, package)


def judge(
    policy: Policy,
    row: Compliance,
    view: NodeView,
    packages: dict[str, list[catalog_pb.Package]],
    *,
    now: datetime,
    settling: bool,
    max_attempts: int,
) -> Verdict:
    """The node's compliance with the policy, from the first reason that applies:

    - still settling after a policy change and the node has reported nothing of the software: its report may
      be on the way (agents learn the names to report from the policy) → converging;
    - it has what the policy wants → compliant;
    - another enabled policy of the software wants something else on it → failed, nothing done;
    - a deployment of the software is unfinished on it → converging (its message says what it waits for);
    - no package fits it → incompatible;
    - the result of the policy's last deployment for it is not counted yet → converging;
    - too many failures in a row, or still backing off → failed;
    - offline → drifted, corrected when it reconnects;
    - else drifted, corrected now in enforce mode.
    """
    absent = policy.desired_state == ABSENT
    package, why = (None, "") if absent else desired_package(policy, packages, view.node)
    desired = full_version(package) if package is not None else ""
    if settling and not view.installed:
        return Verdict(CONVERGING, "waiting for the node to report what it has installed", desired)
    format = format_of(package) if package is not None else _absent_format(packages, view)
    if _complies(policy, view, package, format):
        return Verdict(COMPLIANT, "", desired)
    if view.contradiction:
        return Verdict(FAILED, view.contradiction, desired)
    if view.busy is not None:
        return Verdict(CONVERGING, _busy_message(view.busy), desired)
    if not absent and package is None:
        return Verdict(INCOMPATIBLE, why, desired)
    if row.deployment_id and not row.outcome_counted:
        return Verdict(CONVERGING, f"waiting for the result of deployment {row.deployment_id}", desired)
    if row.failed_attempts >= max_attempts:
        message = (
            f"gave up after {row.failed_attempts} failed attempt(s), the last: {row.last_failure}; "
            "change the policy (or disable and enable it) to try again"
        )
        return Verdict(FAILED, message, desired)
    if row.failed_attempts and row.retry_at is not None and now < row.retry_at:
        message = (
            f"attempt {row.failed_attempts} failed: {row.last_failure}; "
            f"next attempt at {row.retry_at.isoformat()}"
        )
        return Verdict(FAILED, message, desired)
    message = _drift_message(policy, view.installed, desired)
    if not view.online:
        return Verdict(DRIFTED, f"{message}; the node is not connected: corrected when it connects", desired)
    correction = Correction(_action(policy, format, view.installed, package), package, format)
    return Verdict(DRIFTED, message, desired, correction if policy.mode == ENFORCE else None)
