"""Options several commands share (a target, a strategy, --limit) and the request bodies built from them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from convoyctl.client import ApiClient
from convoyctl.errors import UsageError
from convoyctl.resolve import group_id, server_id

__all__ = [
    "ACTIONS",
    "CATEGORIES",
    "SERVER_STATUSES",
    "DEPLOYMENT_STATES",
    "TargetSpec",
    "count",
    "add_limit",
    "add_target_options",
    "target_spec",
    "target_body",
    "add_strategy_options",
    "parse_strategy",
    "strategy_body",
    "deployment_body",
    "policy_body",
]

ACTIONS = ("install", "update", "uninstall", "rollback")
CATEGORIES = ("web", "database", "data-processing", "container", "general")
SERVER_STATUSES = ("pending", "online", "offline", "revoked")
DEPLOYMENT_STATES = ("scheduled", "pending", "running", "paused", "succeeded", "failed", "cancelled")
_STRATEGY_COUNTS = (
    "batch_size",
    "batch_percent",
    "max_failures",
    "max_failure_percent",
    "pause_between_batches_seconds",
)
_STRATEGY_SWITCHES = ("canary", "require_approval")
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _positive(text: str) -> int:
    value = count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected 1 or more")
    return value


def add_limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=_positive, metavar="N", help="at most N items (default: every page)")


@dataclass(frozen=True)
class TargetSpec:
    """Where a deployment or policy goes: kind is server, group, all or selector."""

    kind: str
    value: str = ""


def add_target_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    where = parser.add_argument_group("target (exactly one)")
    exclusive = where.add_mutually_exclusive_group(required=required)
    exclusive.add_argument("--group", "-g", metavar="GROUP", help="a server group, by name or id")
    exclusive.add_argument("--server", "-s", metavar="SERVER", help="one server, by hostname or id")
    exclusive.add_argument("--all", action="store_true", help="every server")
    exclusive.add_argument(
        "--selector",
        "-l",
        metavar="SELECTOR",
        help="servers matching key=value,key!=value terms (labels, os_family, os_id, arch, category, "
        "status, group)",
    )


def target_spec(args: argparse.Namespace) -> TargetSpec | None:
    if args.all:
        return TargetSpec("all")
    for kind in ("group", "server", "selector"):
        value = getattr(args, kind)
        if value is not None:
            if not value.strip():
                raise UsageError(f"--{kind} needs a value")
            return TargetSpec(kind, value.strip())
    return None


def target_body(spec: TargetSpec, api: ApiClient) -> dict[str, Any]:
    """The API's target; names are looked up (an id is taken as it is)."""
    if spec.kind == "all":
        return {"all": True}
    if spec.kind == "selector":
        return {"selector": spec.value}
    if spec.kind == "group":
        return {"group_id": group_id(api, spec.value)}
    return {"server_id": server_id(api, spec.value)}


def add_strategy_options(parser: argparse.ArgumentParser) -> None:
    how = parser.add_argument_group("strategy (left out: the scheduler's defaults)")
    how.add_argument(
        "--strategy",
        metavar="KEY=VALUE,…",
        help=f"strategy fields: {', '.join(_STRATEGY_COUNTS + _STRATEGY_SWITCHES)}; the options below win",
    )
    how.add_argument("--batch-size", type=count, metavar="N", help="nodes per batch")
    how.add_argument("--batch-percent", type=count, metavar="P", help="nodes per batch, in percent")
    how.add_argument("--max-failures", type=count, metavar="N", help="failed nodes before it pauses")
    how.add_argument("--max-failure-percent", type=count, metavar="P", help="the same, in percent")
    how.add_argument("--pause-between", type=count, metavar="SECONDS", help="wait between batches")
    how.add_argument("--canary", action="store_true", default=None, help="pause after the first batch")
    how.add_argument(
        "--require-approval", action="store_true", default=None, help="each node waits for approval"
    )


def parse_strategy(text: str) -> dict[str, Any]:
    """`batch_size=2,canary=true` as the API's strategy fields (hyphens may stand for underscores)."""
    strategy: dict[str, Any] = {}
    for term in filter(None, (part.strip() for part in text.split(","))):
        key, equals, value = term.partition("=")
        key, value = key.strip().replace("-", "_"), value.strip().lower()
        if not equals or not value:
            raise UsageError(f"strategy term {term!r} is not KEY=VALUE")
        if key in _STRATEGY_COUNTS:
            try:
                strategy[key] = count(value)
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"strategy {key}: {exc}") from None
        elif key in _STRATEGY_SWITCHES and value in _TRUE + _FALSE:
            strategy[key] = value in _TRUE
        elif key in _STRATEGY_SWITCHES:
            raise UsageError(f"strategy {key} is true or false, got {value!r}")
        else:
            raise UsageError(
                f"unknown strategy field {key!r}; known: {', '.join(_STRATEGY_COUNTS + _STRATEGY_SWITCHES)}"
            )
    return strategy


def strategy_body(args: argparse.Namespace) -> dict[str, Any] | None:
    """--strategy, with the single options on top; None when nothing was given."""
    strategy = parse_strategy(args.strategy) if args.strategy else {}
    flags = {
        "batch_size": args.batch_size,
        "batch_percent": args.batch_percent,
        "max_failures": args.max_failures,
        "max_failure_percent": args.max_failure_percent,
        "pause_between_batches_seconds": args.pause_between,
        "canary": args.canary,
        "require_approval": args.require_approval,
    }
    strategy.update({key: value for key, value in flags.items() if value is not None})
    return strategy or None


def deployment_body(
    *,
    action: str,
    package_id: str | None,
    target: dict[str, Any] | None,
    strategy: dict[str, Any] | None = None,
    rollback_of: str | None = None,
    dry_run: bool = False,
    override_window: bool = False,
) -> dict[str, Any]:
    """POST /api/v1/deployments: a package on a target, or the rollback of an earlier deployment."""
    if rollback_of and action != "rollback":
        raise UsageError("--rollback-of goes with --action rollback")
    if not rollback_of and (not package_id or target is None):
        raise UsageError("give a package and a target (--group, --server, --all or --selector)")
    body: dict[str, Any] = {"action": action}
    optional = {
        "package_id": package_id,
        "target": target,
        "strategy": strategy,
        "rollback_deployment_id": rollback_of,
        "dry_run": dry_run or None,
        "override_maintenance_window": override_window or None,
    }
    body.update({key: value for key, value in optional.items() if value})
    return body


def policy_body(
    *,
    name: str,
    software: str,
    target: dict[str, Any],
    version: str | None,
    absent: bool,
    mode: str,
    enabled: bool,
    strategy: dict[str, Any] | None,
) -> dict[str, Any]:
    """POST /api/v1/policies: present at a version (latest unless given), or absent."""
    if absent and version:
        raise UsageError("--absent takes no --version")
    body: dict[str, Any] = {
        "name": name,
        "target": target,
        "software_name": software,
        "state": "absent" if absent else "present",
        "mode": mode,
        "enabled": enabled,
    }
    if not absent:
        body["version"] = version or "latest"
    if strategy:
        body["strategy"] = strategy
    return body
