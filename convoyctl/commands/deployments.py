"""deploy, and deployments list|get|create|watch|pause|resume|cancel|retry|approve|log."""

from __future__ import annotations

import argparse
from typing import Any

from convoyctl.commands import Subcommands, group, leaf
from convoyctl.commands.catalog import FORMATS
from convoyctl.commands.options import (
    ACTIONS,
    DEPLOYMENT_STATES,
    add_limit,
    add_strategy_options,
    add_target_options,
    deployment_body,
    strategy_body,
    target_body,
    target_spec,
)
from convoyctl.context import Context
from convoyctl.errors import DeploymentFailed, UsageError
from convoyctl.output import Column, field
from convoyctl.resolve import find_package, parse_package, server_id
from convoyctl.watch import STYLES, WatchState, follow

__all__ = ["register", "DEPLOYMENT_COLUMNS", "TARGET_COLUMNS"]


def _progress(deployment: dict[str, Any]) -> str:
    counts = deployment.get("counts") or {}
    done = sum(
        int(counts.get(name) or 0) for name in ("succeeded", "unchanged", "failed", "skipped", "cancelled")
    )
    return f"{done}/{counts.get('total', 0)}"


DEPLOYMENT_COLUMNS = [
    Column("ID", field("id")),
    Column("SOFTWARE", field("software_name")),
    Column("VERSION", field("version")),
    Column("ACTION", field("action")),
    Column("TARGET", field("target")),
    Column("STATE", field("state")),
    Column("DONE", _progress),
    Column("FAILED", field("counts", "failed")),
    Column("CREATED", field("created_at")),
]
DEPLOYMENT_FIELDS = [
    *DEPLOYMENT_COLUMNS,
    Column("REASON", field("state_reason")),
    Column("BATCH", lambda d: f"{d.get('current_batch', 0)} of {d.get('batch_count', 0)}"),
    Column("STRATEGY", field("strategy")),
    Column("CREATED BY", field("created_by")),
    Column("FINISHED", field("finished_at")),
]
TARGET_COLUMNS = [
    Column("SERVER", field("server_id")),
    Column("HOSTNAME", field("hostname")),
    Column("BATCH", field("batch")),
    Column("STATE", field("state")),
    Column("%", field("progress_percent")),
    Column("BEFORE", field("previous_version")),
    Column("NOW", field("installed_version")),
    Column("MESSAGE", field("message")),
]
RESOLVED_COLUMNS = [
    Column("SERVER", field("server_id")),
    Column("HOSTNAME", field("hostname")),
    Column("INSTALLED", field("installed_version")),
    Column("BATCH", field("batch")),
]


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    _add_create_options(leaf(commands, "deploy", common, run_create, "deploy a package to servers"))
    deployments = group(commands, "deployments", "deployments and their nodes")
    listing = leaf(deployments, "list", common, run_list, "list deployments, newest first")
    listing.add_argument("--state", choices=DEPLOYMENT_STATES)
    listing.add_argument("--software", metavar="NAME")
    add_limit(listing)
    leaf(deployments, "get", common, run_get, "a deployment and its nodes").add_argument("id")
    _add_create_options(leaf(deployments, "create", common, run_create, "the same as deploy"))
    leaf(deployments, "watch", common, run_watch, "follow a deployment until it is done").add_argument("id")
    for verb, summary in (("pause", "start no more nodes"), ("cancel", "cancel the nodes not done")):
        steer = leaf(deployments, verb, common, run_steer, summary)
        steer.add_argument("id")
        steer.add_argument("--reason", default="")
    leaf(deployments, "resume", common, run_steer, "go on after a pause").add_argument("id")
    for verb, summary in (
        ("retry", "a new attempt for failed nodes"),
        ("approve", "let waiting nodes go on"),
    ):
        choose = leaf(deployments, verb, common, run_choose, summary)
        choose.add_argument("id")
        choose.add_argument("--server", "-s", action="append", metavar="SERVER", help="only these (repeat)")
    log = leaf(deployments, "log", common, run_log, "what a node reported while working on it")
    log.add_argument("id")
    log.add_argument("server", metavar="SERVER", help="hostname or id")


def _add_create_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", nargs="?", metavar="PACKAGE[=VERSION]", help="software name or package id")
    parser.add_argument("--action", "-a", choices=ACTIONS, default="install")
    add_target_options(parser, required=False)
    add_strategy_options(parser)
    parser.add_argument("--format", choices=FORMATS, help="which build, when the version has several")
    parser.add_argument("--arch", help="which build, when the version has several")
    parser.add_argument(
        "--rollback-of", metavar="DEPLOYMENT", help="undo that deployment (--action rollback)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show the nodes it would cover; create nothing"
    )
    parser.add_argument(
        "--override-maintenance-window", action="store_true", help="urgent: ignore closed windows (audited)"
    )
    parser.add_argument("--watch", "-w", action="store_true", help="follow it until it is done")


def create_body(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    """The request for deploy / deployments create, names looked up."""
    spec = target_spec(args)
    if args.rollback_of and (args.package or spec):
        raise UsageError("--rollback-of takes the package and the servers from that deployment")
    package_id = None
    if args.package:
        package_id = find_package(ctx.api, parse_package(args.package), fmt=args.format, arch=args.arch)["id"]
    return deployment_body(
        action="rollback" if args.rollback_of else args.action,
        package_id=package_id,
        target=target_body(spec, ctx.api) if spec else None,
        strategy=strategy_body(args),
        rollback_of=args.rollback_of,
        dry_run=args.dry_run,
        override_window=args.override_maintenance_window,
    )


def run_create(ctx: Context, args: argparse.Namespace) -> int:
    if not args.package and not args.rollback_of:
        raise UsageError("give a PACKAGE[=VERSION] (or --rollback-of DEPLOYMENT)")
    created = ctx.api.post("/api/v1/deployments", create_body(ctx, args))
    if args.dry_run:
        return _preview(ctx, created)
    deployment = created["deployment"]
    for server in created.get("incompatible") or []:
        ctx.printer.note(f"{server['hostname']}: left out: {server['reason']}", style="yellow")
    if args.watch:
        ctx.printer.note(f"deployment {deployment['id']} created; watching (Ctrl-C stops watching only)")
        return watch(ctx, deployment["id"])
    ctx.printer.record(deployment, DEPLOYMENT_FIELDS)
    if not ctx.printer.json:
        ctx.printer.note(f"follow it: convoyctl deployments watch {deployment['id']}")
    return 0


def _preview(ctx: Context, created: dict[str, Any]) -> int:
    if ctx.printer.json:
        ctx.printer.document(created)
        return 0
    ctx.printer.note(f"{len(created['resolved'])} node(s) would be covered:")
    ctx.printer.items(created["resolved"], RESOLVED_COLUMNS)
    for server in created.get("incompatible") or []:
        ctx.printer.note(f"{server['hostname']}: left out: {server['reason']}", style="yellow")
    return 0


def watch(ctx: Context, deployment_id: str) -> int:
    """Follows the deployment; 0 when it succeeded, DeploymentFailed (exit 1) naming the failed nodes."""
    state = follow(ctx.api, deployment_id, ctx.printer)
    if ctx.printer.json:
        ctx.printer.document(state.deployment)
    else:
        ctx.printer.note(state.summary(), style=STYLES.get(state.state, "bold"))
    if state.succeeded:
        return 0
    raise DeploymentFailed(_failure(state, deployment_id))


def _failure(state: WatchState, deployment_id: str) -> str:
    reason = (state.deployment or {}).get("state_reason") or ""
    lines = [f"deployment {deployment_id} {state.state}" + (f": {reason}" if reason else "")]
    lines += [f"  {row.hostname} failed: {row.message or 'no message'}" for row in state.failed_rows()]
    if state.failed_rows():
        lines.append(f"  the node's output: convoyctl deployments log {deployment_id} HOSTNAME")
    return "\n".join(lines)


def run_watch(ctx: Context, args: argparse.Namespace) -> int:
    return watch(ctx, args.id)


def run_list(ctx: Context, args: argparse.Namespace) -> int:
    params = {"state": args.state, "software_name": args.software}
    ctx.printer.items(ctx.api.walk("/api/v1/deployments", params, args.limit), DEPLOYMENT_COLUMNS)
    return 0


def run_get(ctx: Context, args: argparse.Namespace) -> int:
    deployment = ctx.api.get(f"/api/v1/deployments/{args.id}")
    ctx.printer.record(deployment, DEPLOYMENT_FIELDS)
    if not ctx.printer.json:
        ctx.printer.items(ctx.api.walk(f"/api/v1/deployments/{args.id}/targets"), TARGET_COLUMNS)
    return 0


def run_steer(ctx: Context, args: argparse.Namespace) -> int:
    verb = args.deployments_command
    body = {"reason": args.reason} if getattr(args, "reason", "") else None
    ctx.printer.record(ctx.api.post(f"/api/v1/deployments/{args.id}/{verb}", body), DEPLOYMENT_FIELDS)
    return 0


def run_choose(ctx: Context, args: argparse.Namespace) -> int:
    verb = args.deployments_command
    ids = [server_id(ctx.api, server) for server in args.server or []]
    done = ctx.api.post(f"/api/v1/deployments/{args.id}/{verb}", {"server_ids": ids})
    if ctx.printer.json:
        ctx.printer.document(done)
    else:
        count = done.get("retried", done.get("approved", 0))
        ctx.printer.note(f"{verb}: {count} node(s); deployment {args.id} is {done['deployment']['state']}")
    return 0


def run_log(ctx: Context, args: argparse.Namespace) -> int:
    path = f"/api/v1/deployments/{args.id}/targets/{server_id(ctx.api, args.server)}/log"
    log = ctx.api.get(path)
    if ctx.printer.json:
        ctx.printer.document(log)
        return 0
    for line in log["lines"]:
        ctx.printer.out.print(line["text"], soft_wrap=True)
    if log.get("dropped_lines"):
        ctx.printer.note(f"({log['dropped_lines']} lines in the middle were not kept)", style="dim")
    return 0
