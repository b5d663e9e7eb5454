"""servers list|get and groups list|create|members|add-members."""

from __future__ import annotations

import argparse
from typing import Any

from convoyctl.commands import Subcommands, group, leaf
from convoyctl.commands.options import CATEGORIES, SERVER_STATUSES, add_limit
from convoyctl.context import Context
from convoyctl.output import Column, field
from convoyctl.resolve import group_id, server_id

__all__ = ["register", "SERVER_COLUMNS", "GROUP_COLUMNS"]

SERVER_COLUMNS = [
    Column("ID", field("id")),
    Column("HOSTNAME", field("hostname")),
    Column("IP", field("ip_address")),
    Column("STATUS", field("status")),
    Column("OS", field("os", "pretty_name")),
    Column("FAMILY", field("os", "package_family")),
    Column("CATEGORY", field("category")),
    Column("LABELS", field("labels")),
]
SERVER_FIELDS = [
    *SERVER_COLUMNS,
    Column("ARCH", field("os", "arch")),
    Column("AGENT", field("agent_version")),
    Column("LAST SEEN", field("last_seen")),
    Column("GROUPS", field("group_ids")),
]
GROUP_COLUMNS = [
    Column("ID", field("id")),
    Column("NAME", field("name")),
    Column("CATEGORY", field("category")),
    Column("MEMBERS", field("member_count")),
    Column("DESCRIPTION", field("description")),
]


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    servers = group(commands, "servers", "the fleet")
    listing = leaf(servers, "list", common, run_servers, "list servers by hostname")
    listing.add_argument("--group", "-g", metavar="GROUP", help="members of this group (name or id)")
    listing.add_argument("--status", choices=SERVER_STATUSES)
    listing.add_argument("--selector", "-l", metavar="SELECTOR", help="key=value,key!=value terms")
    listing.add_argument("--query", "-q", metavar="TEXT", help="part of the hostname or IP address")
    add_limit(listing)
    get = leaf(servers, "get", common, run_server, "one server")
    get.add_argument("server", metavar="ID|HOSTNAME")

    groups = group(commands, "groups", "server groups")
    listing = leaf(groups, "list", common, run_groups, "list groups by name")
    listing.add_argument("--category", choices=CATEGORIES)
    listing.add_argument("--query", "-q", metavar="TEXT", help="part of the name or description")
    add_limit(listing)
    create = leaf(groups, "create", common, run_create_group, "create a group")
    create.add_argument("name")
    create.add_argument("--category", choices=CATEGORIES)
    create.add_argument("--description", default="")
    members = leaf(groups, "members", common, run_members, "the servers of a group")
    members.add_argument("group", metavar="GROUP")
    add_limit(members)
    add = leaf(groups, "add-members", common, run_add_members, "add servers to a group")
    add.add_argument("group", metavar="GROUP", help="name or id")
    add.add_argument("servers", metavar="SERVER", nargs="+", help="hostnames or ids")


def run_servers(ctx: Context, args: argparse.Namespace) -> int:
    api = ctx.api
    params: dict[str, Any] = {
        "group_id": group_id(api, args.group) if args.group else None,
        "status": args.status,
        "label": args.selector,
        "q": args.query,
    }
    ctx.printer.items(api.walk("/api/v1/servers", params, args.limit), SERVER_COLUMNS)
    return 0


def run_server(ctx: Context, args: argparse.Namespace) -> int:
    api = ctx.api
    ctx.printer.record(api.get(f"/api/v1/servers/{server_id(api, args.server)}"), SERVER_FIELDS)
    return 0


def run_groups(ctx: Context, args: argparse.Namespace) -> int:
    params = {"category": args.category, "q": args.query}
    ctx.printer.items(ctx.api.walk("/api/v1/groups", params, args.limit), GROUP_COLUMNS)
    return 0


def run_create_group(ctx: Context, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "description": args.description}
    if args.category:
        body["category"] = args.category
    ctx.printer.record(ctx.api.post("/api/v1/groups", body), GROUP_COLUMNS)
    return 0


def run_members(ctx: Context, args: argparse.Namespace) -> int:
    api = ctx.api
    path = f"/api/v1/groups/{group_id(api, args.group)}/members"
    ctx.printer.items(api.walk(path, limit=args.limit), SERVER_COLUMNS)
    return 0


def run_add_members(ctx: Context, args: argparse.Namespace) -> int:
    api = ctx.api
    group_ = group_id(api, args.group)
    ids = list(dict.fromkeys(server_id(api, server) for server in args.servers))
    added = api.post(f"/api/v1/groups/{group_}/members", {"server_ids": ids})
    if ctx.printer.json:
        ctx.printer.document(added)
    else:
        ctx.printer.note(
            f"added {added['added']} server(s) to {args.group} ({len(ids) - added['added']} already in)"
        )
    return 0
