"""login, logout and whoami."""

from __future__ import annotations

import argparse
import getpass

from convoyctl.commands import Subcommands, leaf
from convoyctl.config import plaintext_to_remote
from convoyctl.context import Context
from convoyctl.errors import Unavailable, UsageError
from convoyctl.output import Column, field

__all__ = ["register"]

USER_FIELDS = [
    Column("username", field("username")),
    Column("role", field("role")),
    Column("display name", field("display_name")),
    Column("id", field("id")),
    Column("last login", field("last_login_at")),
]


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    login = leaf(commands, "login", common, run_login, "log in and save the session for later commands")
    # The connection options here too, where people type them; they are saved with the session.
    login.add_argument("--server", dest="server_url", metavar="URL", default=argparse.SUPPRESS)
    login.add_argument("--ca-file", metavar="FILE", default=argparse.SUPPRESS)
    login.add_argument("--insecure", action="store_true", default=argparse.SUPPRESS)
    login.add_argument("--username", "-u", help="default: asked for on the terminal")
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (its first line)"
    )
    leaf(commands, "logout", common, run_logout, "end the session and forget its tokens")
    leaf(commands, "whoami", common, run_whoami, "the user of the saved session")


def _ask(ctx: Context, prompt: str, secret: bool) -> str:
    if not ctx.stdin.isatty():
        option = "--password-stdin" if secret else "--username"
        raise UsageError(f"no terminal to ask on: give {option}")
    answer = getpass.getpass(prompt) if secret else input(prompt)
    if not answer:
        raise UsageError("nothing given")
    return answer


def _password(ctx: Context, args: argparse.Namespace, username: str, server: str) -> str:
    if args.password_stdin:
        password = ctx.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: stdin gave no password")
        return password
    return _ask(ctx, f"password for {username} on {server}: ", secret=True)


def run_login(ctx: Context, args: argparse.Namespace) -> int:
    api = ctx.client(lenient=True)
    if plaintext_to_remote(api.server):
        ctx.printer.warn(f"{api.server} is plain http: the password crosses the network unencrypted")
    username = args.username or _ask(ctx, "username: ", secret=False)
    user = api.login(username, _password(ctx, args, username, api.server))
    if ctx.printer.json:
        ctx.printer.document(user)
    else:
        ctx.printer.note(f"logged in to {api.server} as {user['username']} ({user.get('role')})")
    return 0


def run_logout(ctx: Context, args: argparse.Namespace) -> int:
    api = ctx.client(lenient=True)
    try:
        ended = api.logout()
    except Unavailable as exc:
        raise Unavailable(f"forgot the session here, but the server could not end it: {exc.message}") from exc
    if ended:
        ctx.printer.note(f"logged out of {api.server}")
    else:
        ctx.printer.note(f"not logged in to {api.server}")
    return 0


def run_whoami(ctx: Context, args: argparse.Namespace) -> int:
    user = ctx.api.get("/api/v1/auth/me")
    if not ctx.printer.json:
        ctx.printer.note(f"{ctx.api.server}")
    ctx.printer.record(user, USER_FIELDS)
    return 0
