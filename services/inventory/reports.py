"""What services report about servers: agent facts, online/offline, installed software; and reading it back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from services.inventory.models import AGENT_REPORT, OFFLINE, ONLINE, PENDING, REVOKED, Installed, Server
from services.inventory.service import (
    Core,
    Page,
    ServerView,
    load_server,
    refuse_taken_ip,
    with_groups,
)
from services.inventory.validation import (
    check_hostname,
    check_ip,
    check_package_family,
    check_short,
    check_source,
)
from services.kit.db import AsyncSession
from services.kit.errors import AlreadyExists, Conflict, FailedPrecondition, InvalidArgument
from services.kit.hints import hint_reconciler
from services.kit.pagination import page_size, parse_uuid, read_token, scope, write_token

__all__ = ["OsFacts", "Facts", "InstalledItem", "ReportUseCases", "MAX_INSTALLED", "MAX_ID_LIKE"]

MAX_INSTALLED, MAX_ID_LIKE = 20000, 16


@dataclass(frozen=True)
class OsFacts:
    os_id: str = ""
    id_like: list[str] = field(default_factory=list)
    version_id: str = ""
    pretty_name: str = ""
    package_family: str = ""
    arch: str = ""
    kernel: str = ""


@dataclass(frozen=True)
class Facts:
    """Empty hostname, ip_address or agent_version, or no `os`, keep what is stored."""

    server_id: str
    hostname: str = ""
    ip_address: str = ""
    os: OsFacts | None = None
    agent_version: str = ""


@dataclass(frozen=True)
class CheckedFacts:
    server_id: uuid.UUID
    hostname: str
    ip_address: str
    os: OsFacts | None
    agent_version: str


@dataclass(frozen=True)
class InstalledItem:
    name: str
    version: str
    package_family: str = ""
    observed_at: datetime | None = None
    source: str = ""


class ReportUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def record_facts(self, facts: Facts) -> ServerView:
        """Stores an agent's facts; an enrolling node's server is created here (category general)."""
        core = self.core
        await core.require_service("server.facts", f"server:{facts.server_id[:64]}")
        checked = _checked_facts(facts)
        try:
            async with core.db.transaction() as session:
                server, created = await self._locked_or_new(session, checked)
                _apply_facts(server, checked)
                server.updated_at = core.now()
                await session.flush()
                if created:
                    reason = f"registered from agent facts, ip_address={checked.ip_address}"
                    await core.audit.record("server.create", f"server:{server.id}", reason=reason)
                return (await with_groups(session, [server]))[0]
        except IntegrityError as exc:
            raise AlreadyExists(f"another server was just given ip_address {checked.ip_address}") from exc

    async def _locked_or_new(self, session: AsyncSession, facts: CheckedFacts) -> tuple[Server, bool]:
        """The server, locked; registered first if it is new. Two reports racing to register one node
        both end here: the insert of the second does nothing, and it goes on as an update."""
        server_id, ip = facts.server_id, facts.ip_address
        if ip:
            await refuse_taken_ip(session, ip, besides=server_id)
        server = await session.get(Server, server_id, with_for_update=True)
        if server is not None:
            return server, False
        if not ip:
            raise InvalidArgument(f"server {server_id} is new, so its facts must include ip_address")
        now = self.core.now()
        row = {"id": server_id, "ip_address": ip, "category": "general", "created_at": now, "updated_at": now}
        insert_new = pg_insert(Server).values(row).on_conflict_do_nothing(index_elements=["id"])
        result = await (await session.connection()).execute(insert_new.returning(col(Server.id)))
        created = result.first() is not None
        server = await session.get(Server, server_id, with_for_update=True, populate_existing=True)
        if server is None:
            raise Conflict(f"server {server_id} was deleted while it was being registered; retry")
        return server, created

    async def set_status(
        self, server_id: str, status: str, when: datetime | None, *, enrolled: bool = False
    ) -> ServerView:
        """Online/offline as of `when`; a report older than the last one seen changes nothing.

        REVOKED is final until the node enrolls again (`enrolled`, with PENDING until its agent's first
        connection): its certificate was revoked by auth, and the scheduler refuses every call of it meanwhile."""
        core = self.core
        await core.require_service("server.status", f"server:{server_id[:64]}")
        if enrolled:
            if status != PENDING:
                raise InvalidArgument("a node that has just enrolled is pending until its agent connects")
        elif status not in (ONLINE, OFFLINE, REVOKED):
            raise InvalidArgument("status must be online, offline or revoked")
        now = core.now()
        # A clock ahead of ours must not pin last_seen in the future and so swallow later reports.
        when = min(when or now, now)
        async with core.db.transaction() as session:
            server = await load_server(session, server_id, lock=True)
            if status == REVOKED:
                if server.status != REVOKED:
                    server.status, server.updated_at = REVOKED, now
                    await core.audit.record(
                        "server.revoke", f"server:{server.id}", reason="certificate revoked"
                    )
                    await session.flush()
                return (await with_groups(session, [server]))[0]
            if server.status == REVOKED and not enrolled:
                raise FailedPrecondition(f"server {server.id} is revoked; it must enroll again")
            if enrolled or server.last_seen is None or when >= server.last_seen:
                came_online = status == ONLINE and server.status != ONLINE
                server.status, server.last_seen, server.updated_at = status, when, now
                await session.flush()
                if came_online:
                    # Enrolled or back: what changed on it meanwhile may be drift to correct now.
                    await hint_reconciler(session, f"node:{server.id}")
            return (await with_groups(session, [server]))[0]

    async def record_installed(
        self, server_id: str, items: Sequence[InstalledItem], *, merge: bool = False
    ) -> None:
        """Replaces the server's whole set in one transaction; with `merge`, only the names listed
        change (a deployment's result): an item with an empty version removes its name.

        The reconciler is hinted only when a name or a version changed: every Hello and every periodic
        report of a quiet fleet would otherwise wake it for nothing."""
        core = self.core
        # Not audited per report: it is an observation of the node, not a change anyone made.
        await core.require_service("installed.record", f"server:{server_id[:64]}")
        now = core.now()
        rows = _check_installed(items, now, merge=merge)
        async with core.db.transaction() as session:
            # The row lock orders concurrent reports for one server, so one whole set wins.
            server = await load_server(session, server_id, lock=True)
            connection = await session.connection()
            write = _merge_installed if merge else _replace_installed
            if await write(connection, server.id, rows):
                await hint_reconciler(session, f"node:{server.id}")

    async def list_installed(
        self, *, server_id: str, name: str, size: int, token: str
    ) -> Page[tuple[uuid.UUID, Installed]]:
        """In (server id, name) order, the primary key's, so that paging is stable and index-backed."""
        self.core.require_reader()
        name = check_short("software name", name, 256)
        listing = scope("installed", server_id, name)
        limit, after = page_size(size), read_token(token, listing, "s", "n")
        async with self.core.db.transaction() as session:
            server = await load_server(session, server_id) if server_id else None
            statement = _installed_query(server.id if server else None, name, after)
            rows = list(await session.exec(statement.limit(limit + 1)))
        more, rows = len(rows) > limit, rows[:limit]
        next_token = write_token(listing, s=str(rows[-1].server_id), n=rows[-1].name) if more else ""
        return Page([(row.server_id, row) for row in rows], next_token)


def _installed_query(server_id: uuid.UUID | None, name: str, after: dict[str, str] | None) -> Any:
    order = (col(Installed.server_id), col(Installed.name))
    statement = select(Installed).order_by(*order)
    if server_id is not None:
        statement = statement.where(col(Installed.server_id) == server_id)
    if name:
        statement = statement.where(col(Installed.name) == name)
    if after is not None:
        statement = statement.where(tuple_(*order) > (parse_uuid(after["s"], "page_token"), after["n"]))
    return statement


def _check_os(os: OsFacts) -> OsFacts:
    if len(os.id_like) > MAX_ID_LIKE:
        raise InvalidArgument(f"os id_like may name at most {MAX_ID_LIKE} distributions")
    return OsFacts(
        os_id=check_short("os_id", os.os_id, 64),
        id_like=[check_short("os id_like entry", value, 64) for value in os.id_like if value.strip()],
        version_id=check_short("os version_id", os.version_id, 64),
        pretty_name=check_short("os pretty_name", os.pretty_name, 256),
        package_family=check_package_family(os.package_family),
        arch=check_short("os arch", os.arch, 32),
        kernel=check_short("os kernel", os.kernel, 128),
    )


def _checked_facts(facts: Facts) -> CheckedFacts:
    return CheckedFacts(
        server_id=parse_uuid(facts.server_id, "server_id"),
        hostname=check_hostname(facts.hostname),
        ip_address=check_ip(facts.ip_address) if facts.ip_address else "",
        os=_check_os(facts.os) if facts.os is not None else None,
        agent_version=check_short("agent_version", facts.agent_version, 64),
    )


def _apply_facts(server: Server, facts: CheckedFacts) -> None:
    """Empty values keep what is stored (see Facts)."""
    if facts.hostname:
        server.hostname = facts.hostname
    if facts.ip_address:
        server.ip_address = facts.ip_address
    if facts.agent_version:
        server.agent_version = facts.agent_version
    os = facts.os
    if os is not None:
        server.os_id, server.id_like, server.version_id = os.os_id, os.id_like, os.version_id
        server.pretty_name, server.package_family = os.pretty_name, os.package_family
        server.arch, server.kernel = os.arch, os.kernel


async def _replace_installed(connection: AsyncConnection, server_id: uuid.UUID, rows: list[dict]) -> bool:
    """Writes the whole set (observation times and sources are refreshed even when nothing else changed);
    whether a name or a version differs from the rows it replaced, which the delete returns."""
    replaced = await connection.execute(
        delete(Installed)
        .where(col(Installed.server_id) == server_id)
        .returning(col(Installed.name), col(Installed.version))
    )
    before: dict[str, str] = {name: version for name, version in replaced}
    if rows:
        await connection.execute(insert(Installed), [{"server_id": server_id, **row} for row in rows])
    return before != {row["name"]: row["version"] for row in rows}


async def _merge_installed(connection: AsyncConnection, server_id: uuid.UUID, rows: list[dict]) -> bool:
    """Upserts the listed names that have a version and deletes those without; others stay as they are.
    Whether a listed name was added, removed or given another version (read first: a merge lists few)."""
    stored = await connection.execute(
        select(Installed.name, Installed.version).where(
            col(Installed.server_id) == server_id, col(Installed.name).in_([row["name"] for row in rows])
        )
    )
    # A stored version is never empty, so "" stands for both "not there" and "removed".
    before: dict[str, str] = {name: version for name, version in stored}
    gone = [row["name"] for row in rows if not row["version"]]
    kept = [{"server_id": server_id, **row} for row in rows if row["version"]]
    if gone:
        await connection.execute(
            delete(Installed).where(col(Installed.server_id) == server_id, col(Installed.name).in_(gone))
        )
    if kept:
        upsert = pg_insert(Installed)
        changed = {
            key: upsert.excluded[key] for key in ("version", "package_family", "observed_at", "source")
        }
        await connection.execute(
            upsert.on_conflict_do_update(index_elements=["server_id", "name"], set_=changed), kept
        )
    return any(before.get(row["name"], "") != row["version"] for row in rows)


def _check_installed(items: Sequence[InstalledItem], now: datetime, *, merge: bool = False) -> list[dict]:
    if len(items) > MAX_INSTALLED:
        raise InvalidArgument(f"a report may list at most {MAX_INSTALLED} pieces of software")
    rows, seen = [_installed_row(item, now, removal_allowed=merge) for item in items], set()
    for name in (row["name"] for row in rows):
        if name in seen:
            raise InvalidArgument(f"software {name!r} is listed twice; list each name once")
        seen.add(name)
    return rows


def _installed_row(item: InstalledItem, now: datetime, *, removal_allowed: bool = False) -> dict:
    """`removal_allowed` (a merge): an empty version means the name is no longer installed."""
    name = check_short("software name", item.name, 256)
    if not name:
        raise InvalidArgument("every piece of software needs a name")
    version = check_short(f"version of {name!r}", item.version, 128)
    if not version and not removal_allowed:
        raise InvalidArgument(f"software {name!r} needs a version")
    return {
        "name": name,
        "version": version,
        "package_family": check_package_family(item.package_family),
        # A node's clock ahead of ours must not date an observation in the future.
        "observed_at": min(item.observed_at or now, now),
        "source": check_source(item.source or AGENT_REPORT),
    }
