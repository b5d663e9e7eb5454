"""What a sync policy may say and how it reads: the checks of its fields, changes applied to it, and
what it wants in words (audit records, conflicts). No I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from convoy.inventory.v1 import inventory_pb2 as inventory_pb
from services.kit.errors import InvalidArgument
from services.kit.text import has_control
from services.scheduler.messages import target_spec_to_proto
from services.scheduler.models import ABSENT, ENFORCE, EXACT, LATEST, PRESENT, REPORT, Policy
from services.scheduler.planning import StrategySpec, check_strategy
from services.scheduler.service import target_spec

__all__ = [
    "WANTS",
    "Version",
    "PolicyChanges",
    "describe",
    "wish",
    "check_name",
    "check_software",
    "check_state",
    "check_mode",
    "set_wish",
    "set_target",
    "target_of",
    "apply_changes",
    "facets",
    "audit_summary",
]

_MAX_NAME, _MAX_VERSION, _MAX_TARGET = 128, 128, 4096
# The catalog's rule for software names (services/catalog/validation.py): names are stored lowercase.
_SOFTWARE = re.compile(r"^[a-z0-9][a-z0-9.+_-]{0,127}$")
# What a policy wants of its nodes; a change of any of these is a new generation.
WANTS = ("target", "version", "state", "strategy", "mode", "enabled")


@dataclass(frozen=True)
class Version:
    """EXACT with a version, or LATEST (the newest package that fits each node)."""

    mode: str
    exact: str = ""


@dataclass(frozen=True)
class PolicyChanges:
    """None: left as it is."""

    name: str | None = None
    target: inventory_pb.Target | None = None
    version: Version | None = None
    state: str | None = None
    strategy: StrategySpec | None = None
    mode: str | None = None
    enabled: bool | None = None


def describe(policy: Policy) -> str:
    """What the policy wants, in words: "present at 1.2-1", "present at latest" or "absent"."""
    if policy.desired_state == ABSENT:
        return "absent"
    return f"present at {policy.exact_version if policy.version_mode == EXACT else 'latest'}"


def wish(policy: Policy) -> tuple[str, str, str]:
    """Two enabled policies on one node must have equal wishes (the version means nothing for ABSENT)."""
    if policy.desired_state == ABSENT:
        return (ABSENT, "", "")
    return (PRESENT, policy.version_mode, policy.exact_version)


def check_name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= _MAX_NAME or has_control(name):
        raise InvalidArgument(f"name must be 1-{_MAX_NAME} characters without control characters")
    return name


def check_software(value: str) -> str:
    name = value.strip().lower()
    if not _SOFTWARE.fullmatch(name):
        raise InvalidArgument(
            "software_name must be 1-128 characters of lowercase letters, digits and '.+_-', "
            f"starting with a letter or digit; got {name[:200]!r}"
        )
    return name


def _check_target(target: inventory_pb.Target | None) -> tuple[str, str]:
    kind, value = target_spec(target)
    if len(value) > _MAX_TARGET or "\x00" in value:
        raise InvalidArgument(f"target {kind} must be at most {_MAX_TARGET} characters")
    return kind, value


def check_state(value: str) -> str:
    if value not in (PRESENT, ABSENT):
        raise InvalidArgument("state must be present or absent")
    return value


def check_mode(value: str) -> str:
    if value not in (ENFORCE, REPORT):
        raise InvalidArgument("mode must be enforce or report")
    return value


def _check_version(version: Version) -> Version:
    if version.mode == LATEST:
        return Version(LATEST)
    if version.mode != EXACT:
        raise InvalidArgument("latest must be true when it is set")
    exact = version.exact.strip()
    if not 1 <= len(exact) <= _MAX_VERSION or any(c.isspace() for c in exact) or has_control(exact):
        raise InvalidArgument(f"exact_version must be 1-{_MAX_VERSION} characters without spaces")
    return Version(EXACT, exact)


def set_wish(policy: Policy, state: str, version: Version | None) -> None:
    """PRESENT takes exactly one of an exact version and latest; ABSENT takes none (and is stored as
    LATEST without a version, which the table's checks accept and nothing reads)."""
    if state == ABSENT:
        if version is not None:
            raise InvalidArgument("state absent takes no version: leave exact_version and latest unset")
        policy.desired_state, policy.version_mode, policy.exact_version = ABSENT, LATEST, ""
        return
    if version is None:
        raise InvalidArgument("state present needs exact_version or latest")
    checked = _check_version(version)
    policy.desired_state, policy.version_mode, policy.exact_version = PRESENT, checked.mode, checked.exact


def set_target(policy: Policy, target: inventory_pb.Target | None) -> None:
    policy.target_kind, policy.target_value = _check_target(target)


def target_of(policy: Policy) -> inventory_pb.Target:
    return target_spec_to_proto(policy.target_kind, policy.target_value)


def apply_changes(policy: Policy, changes: PolicyChanges) -> None:
    """Sets (checked) what `changes` gives."""
    if changes.name is not None:
        policy.name = check_name(changes.name)
    if changes.target is not None:
        set_target(policy, changes.target)
    if changes.state is not None or changes.version is not None:
        state = check_state(changes.state) if changes.state is not None else policy.desired_state
        set_wish(policy, state, changes.version if changes.version is not None else _kept(policy, state))
    if changes.strategy is not None:
        policy.strategy = check_strategy(changes.strategy).as_json()
    if changes.mode is not None:
        policy.mode = check_mode(changes.mode)
    if changes.enabled is not None:
        policy.enabled = changes.enabled


def _kept(policy: Policy, state: str) -> Version | None:
    """The version a policy keeps when only its state changes (ABSENT had none to keep)."""
    if state == ABSENT or policy.desired_state == ABSENT:
        return None
    return Version(policy.version_mode, policy.exact_version)


def facets(policy: Policy) -> dict[str, str]:
    """What an update may change, as the audit record shows it (and compared as such)."""
    return {
        "name": policy.name,
        "target": f"{policy.target_kind} {policy.target_value}".strip(),
        "version": wish(policy)[2] or wish(policy)[1] or "none",
        "state": policy.desired_state,
        "strategy": json.dumps(policy.strategy, sort_keys=True) if policy.strategy else "defaults",
        "mode": policy.mode,
        "enabled": "true" if policy.enabled else "false",
    }


def audit_summary(policy: Policy) -> str:
    """The audit reason of a policy's creation or deletion: the whole policy in one line."""
    target = f"{policy.target_kind} {policy.target_value}".strip()
    enabled = "enabled" if policy.enabled else "disabled"
    return f"{policy.name}: {policy.software_name} {describe(policy)} on {target}, {policy.mode}, {enabled}"


# The name policies.py knows the exact-version match by.
