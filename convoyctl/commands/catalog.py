"""packages list|upload and policies list|create."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from convoyctl.commands import Subcommands, group, leaf
from convoyctl.commands.options import (
    add_limit,
    add_strategy_options,
    add_target_options,
    policy_body,
    strategy_body,
    target_body,
    target_spec,
)
from convoyctl.context import Context
from convoyctl.errors import UsageError
from convoyctl.output import Column, field

__all__ = ["register", "PACKAGE_COLUMNS", "POLICY_COLUMNS", "FORMATS"]

FORMATS = ("deb", "rpm", "tar", "container")
PACKAGE_COLUMNS = [
    Column("ID", field("id")),
    Column("SOFTWARE", field("software_name")),
    Column("VERSION", field("version")),
    Column("RELEASE", field("release")),
    Column("FORMAT", field("format")),
    Column("ARCH", field("arch")),
    Column("SIZE", field("artifact_size")),
    Column("CREATED", field("created_at")),
]
POLICY_COLUMNS = [
    Column("ID", field("id")),
    Column("NAME", field("name")),
    Column("SOFTWARE", field("software_name")),
    Column("VERSION", field("version")),
    Column("STATE", field("state")),
    Column("MODE", field("mode")),
    Column("ENABLED", field("enabled")),
    Column("TARGET", field("target")),
]
# The upload form's optional fields, as options.
_UPLOAD_FIELDS = {
    "software_name": "--software",
    "version": "--version",
    "description": "--description",
    "os_families": "--os-families",
}


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    packages = group(commands, "packages", "the package repository")
    listing = leaf(packages, "list", common, run_packages, "list packages")
    listing.add_argument("--software", metavar="NAME", help="one software's packages")
    listing.add_argument("--format", choices=FORMATS)
    listing.add_argument("--query", "-q", metavar="TEXT", help="part of the name or description")
    add_limit(listing)
    upload = leaf(packages, "upload", common, run_upload, "upload a deb, rpm, tar or image archive")
    upload.add_argument("file", type=Path)
    upload.add_argument("--software", dest="software_name", help="default: the name inside the package")
    upload.add_argument("--version", help="default: the version inside the package")
    upload.add_argument("--description", help="default: the package's own")
    upload.add_argument("--os-families", metavar="deb,rpm", help="tar and container packages only")

    policies = group(commands, "policies", "sync policies: a declared version kept on servers")
    listing = leaf(policies, "list", common, run_policies, "list sync policies")
    listing.add_argument("--software", metavar="NAME")
    listing.add_argument("--mode", choices=("enforce", "report"))
    add_limit(listing)
    create = leaf(policies, "create", common, run_create_policy, "create a sync policy")
    create.add_argument("name")
    create.add_argument("--software", required=True, metavar="NAME")
    state = create.add_mutually_exclusive_group()
    state.add_argument("--version", help='an exact version, or "latest" (the default)')
    state.add_argument("--absent", action="store_true", help="keep the software off the servers")
    create.add_argument("--mode", choices=("enforce", "report"), default="enforce")
    create.add_argument("--disabled", action="store_true", help="create it switched off")
    add_target_options(create, required=True)
    add_strategy_options(create)


def run_packages(ctx: Context, args: argparse.Namespace) -> int:
    params = {"software_name": args.software, "format": args.format, "q": args.query}
    ctx.printer.items(ctx.api.walk("/api/v1/packages", params, args.limit), PACKAGE_COLUMNS)
    return 0


def upload_fields(args: argparse.Namespace) -> dict[str, str]:
    return {name: getattr(args, name) for name in _UPLOAD_FIELDS if getattr(args, name)}


def run_upload(ctx: Context, args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise UsageError(f"{args.file} is not a file")
    package = ctx.api.upload(args.file, upload_fields(args))
    ctx.printer.record(package, PACKAGE_COLUMNS)
    return 0


def run_policies(ctx: Context, args: argparse.Namespace) -> int:
    params = {"software_name": args.software, "mode": args.mode}
    ctx.printer.items(ctx.api.walk("/api/v1/policies", params, args.limit), POLICY_COLUMNS)
    return 0


def run_create_policy(ctx: Context, args: argparse.Namespace) -> int:
    spec = target_spec(args)
    assert spec is not None  # argparse requires one
    body: dict[str, Any] = policy_body(
        name=args.name,
        software=args.software,
        version=args.version,
        absent=args.absent,
        mode=args.mode,
        enabled=not args.disabled,
        strategy=strategy_body(args),
        target=target_body(spec, ctx.api),
    )
    ctx.printer.record(ctx.api.post("/api/v1/policies", body), POLICY_COLUMNS)
    return 0
