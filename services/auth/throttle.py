"""Throttling of failed logins (per username and client address) and failed enrollments (per agent address),
kept in the database so replicas agree."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

from sqlalchemy import case, or_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select

from services.auth.models import LoginThrottle
from services.kit.db import AsyncSession

__all__ = [
    "ThrottlePolicy",
    "throttle_keys",
    "enroll_key",
    "seconds_blocked",
    "record_failure",
    "count_refusal",
    "clear",
    "PURGE_BATCH",
    "ENROLL_PREFIX",
]

PURGE_BATCH = 100
ENROLL_PREFIX = "enroll:"
# Refusals of a blocked enrollment address are counted under this prefix, not audited one by one.
_REFUSED_PREFIX = "refused:"


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta
    user_failures: int
    address_failures: int
    block: timedelta
    max_block: timedelta
    enroll_failures: int = 20

    def limit_for(self, key: str) -> int:
        if key.startswith(ENROLL_PREFIX):
            return self.enroll_failures
        return self.user_failures if key.startswith("user:") else self.address_failures

    def block_for(self, failures: int, limit: int) -> timedelta:
        """Doubles with every failure past the limit, up to max_block."""
        doublings = min(failures - limit, 20)
        return min(self.block * (2**doublings), self.max_block)


def throttle_keys(username: str, client_address: str) -> list[str]:
    """A login's failure budgets: the username's, and its address's (IPv6 per /64, as for enrollment)."""
    keys = [f"user:{username.lower()[:200]}"]
    if client_address:
        try:
            budget = _budget(ipaddress.ip_address(_peer_host(client_address)))
        except ValueError:
            budget = client_address[:200]
        keys.append(f"addr:{budget}")
    return keys


def enroll_key(peer_address: str) -> str:
    """The key of an enrolling agent's address ("" when unknown): its IP without the port, so that new
    connections do not start new counts. IPv6 addresses count per /64, the smallest network a site is
    given, so one site cannot spread its failures over 2^64 addresses; an IPv4-mapped IPv6 address
    counts as the IPv4 address it is."""
    host = _peer_host(peer_address)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"{ENROLL_PREFIX}{host[:200]}" if host else ""
    return ENROLL_PREFIX + _budget(address)


def _peer_host(peer_address: str) -> str:
    """The host of a gRPC peer ("ipv4:192.0.2.1:5000", "ipv6:%5B2001:db8::1%5D:5000": gRPC writes a URI,
    with the brackets percent-encoded) or of "host:port"."""
    address = peer_address.strip()
    for prefix in ("ipv4:", "ipv6:"):
        if address.startswith(prefix):
            address = unquote(address[len(prefix) :]).rpartition(":")[0]
            break
    else:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            host, _, port = address.rpartition(":")
            address = host if host and port.isdigit() else address
    return address.strip("[]")


def _budget(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The address or network whose failures are counted together."""
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address), 64), strict=False))


async def seconds_blocked(session: AsyncSession, keys: list[str], now: datetime) -> int:
    """How long the caller must still wait (0 when not blocked)."""
    rows = await session.exec(select(LoginThrottle.blocked_until).where(col(LoginThrottle.key).in_(keys)))
    waits = [(until - now).total_seconds() for until in rows if until is not None and until > now]
    return math.ceil(max(waits)) if waits else 0


async def record_failure(
    session: AsyncSession, keys: list[str], now: datetime, policy: ThrottlePolicy
) -> None:
    for key in keys:
        await _count_failure(session, key, now, policy)
    await _purge_stale(session, now, policy)


async def _purge_stale(session: AsyncSession, now: datetime, policy: ThrottlePolicy) -> None:
    """Drops a bounded batch of forgotten counters, so a spray of made-up names cannot grow the table."""
    table = LoginThrottle.__table__
    stale = (
        select(table.c.key)
        .where(table.c.window_started_at < now - policy.window)
        .where(or_(table.c.blocked_until.is_(None), table.c.blocked_until < now))
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    connection = await session.connection()
    await connection.execute(table.delete().where(table.c.key.in_(stale.scalar_subquery())))


async def _count_failure(session: AsyncSession, key: str, now: datetime, policy: ThrottlePolicy) -> None:
    table = LoginThrottle.__table__
    window_open = table.c.window_started_at > now - policy.window
    upsert = (
        insert(table)
        .values(key=key, failures=1, window_started_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": case((window_open, table.c.failures + 1), else_=1),
                "window_started_at": case((window_open, table.c.window_started_at), else_=now),
            },
        )
        .returning(table.c.failures)
    )
    connection = await session.connection()
    failures = (await connection.execute(upsert)).scalar_one()
    limit = policy.limit_for(key)
    if failures >= limit:
        until = now + policy.block_for(failures, limit)
        await connection.execute(table.update().where(table.c.key == key).values(blocked_until=until))


async def count_refusal(session: AsyncSession, key: str, now: datetime, window: timedelta) -> int | None:
    """Counts one refusal of the blocked `key`. The first refusal of each window is to be audited: then
    the number of refusals of the previous window that were only counted (0 or more) is returned, else None.

    The counter row stays blocked for a window after the last refusal, so the purge of stale counters does
    not forget it while refusals go on."""
    table = LoginThrottle.__table__
    refused = _REFUSED_PREFIX + key
    connection = await session.connection()
    current = select(table.c.failures, table.c.window_started_at).where(table.c.key == refused)
    row = (await connection.execute(current.with_for_update())).first()
    if row is not None and row.window_started_at > now - window:
        await connection.execute(
            table.update()
            .where(table.c.key == refused)
            .values(failures=table.c.failures + 1, blocked_until=now + window)
        )
        return None
    fresh = {"failures": 1, "window_started_at": now, "blocked_until": now + window}
    upsert = insert(table).values(key=refused, **fresh)
    await connection.execute(upsert.on_conflict_do_update(index_elements=[table.c.key], set_=fresh))
    return row.failures - 1 if row is not None else 0


async def clear(session: AsyncSession, username: str) -> None:
    """A successful login forgets the username's failures (the address keeps its count)."""
    await session.exec(
        delete(LoginThrottle).where(col(LoginThrottle.key) == f"user:{username.lower()[:200]}")
    )  # type: ignore[call-overload]
