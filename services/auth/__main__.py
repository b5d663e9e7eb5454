"""Command line of the auth service: serve, migrate, jwt-key, create-admin."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from services.auth.config import AuthSettings
from services.auth.models import SCHEMA
from services.auth.passwords import generate_password
from services.auth.server import build_core, serve
from services.auth.signing import create_key_file
from services.auth.users import UserUseCases
from services.kit.context import CallContext, Principal, use_call
from services.kit.errors import DomainError
from services.kit.migrations import migrate
from services.kit.settings import load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.auth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server until SIGTERM/SIGINT")
    commands.add_parser("migrate", help="upgrade the auth schema to the newest revision")
    key = commands.add_parser("jwt-key", help="create the Ed25519 token signing key if it does not exist")
    key.add_argument("path", type=Path)
    admin = commands.add_parser(
        "create-admin", help="create the first admin (password: $CONVOY_ADMIN_PASSWORD or generated)"
    )
    admin.add_argument("--username", default="admin")
    admin.add_argument("--password-file", type=Path, help="where to save the password (mode 0600)")
    return parser


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    os.chmod(path, 0o600)


async def _create_admin(
    settings: AuthSettings, username: str, password_file: Path | None
) -> dict[str, object]:
    """Creates the admin once; $CONVOY_ADMIN_PASSWORD, when set, is also applied to an existing admin."""
    given = os.environ.get("CONVOY_ADMIN_PASSWORD") or None
    password = given or generate_password()
    use_call(
        CallContext(
            peer=Principal(kind="service", subject="create-admin", role="service", name="create-admin")
        )
    )
    core = build_core(settings)
    try:
        user, created = await UserUseCases(core).ensure_admin(username, password, reset=given is not None)
    finally:
        await core.db.close()
    if password_file and (created or given):
        _write_secret(password_file, password)
    return {"username": user.username, "created": created}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings(AuthSettings)
    if args.command == "serve":
        asyncio.run(serve(settings))
    elif args.command == "migrate":
        migrate(settings.require_database_url(), "services.auth", SCHEMA)
        print(f"schema {SCHEMA} is up to date")
    elif args.command == "jwt-key":
        print(("created " if create_key_file(args.path) else "kept existing ") + str(args.path))
    else:
        try:
            print(json.dumps(asyncio.run(_create_admin(settings, args.username, args.password_file))))
        except DomainError as exc:
            print(f"create-admin: {exc.message}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
