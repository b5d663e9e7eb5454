"""Agent sessions: the live Connect streams of this process, and the nodes table they share across processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from convoy.agent.v1 import agent_pb2 as agent_pb
from services.kit.db import AsyncSession, Database
from services.kit.errors import DomainError
from services.scheduler.events import notify

__all__ = [
    "REVOKED_CHANNEL",
    "Session",
    "SessionRegistry",
    "NodeBook",
    "Quiet",
    "Standing",
    "WatchBook",
    "process_id",
]

log = logging.getLogger("convoy.scheduler.sessions")

# NOTIFY channel (payload: a node id): the node was revoked, so whichever process holds its stream closes
# it. New work for a node goes on events.NODE_CHANNEL.
REVOKED_CHANNEL = "convoy_revoked"


def process_id() -> str:
    """Names this process, once per process: in nodes.connected_by (whose streams) and in the targets'
    leases (who assigned them). Host, pid and a random part: pids are reused, and two processes may run
    in one interpreter (tests)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class _End:
    """Put last in an outbox: the stream ends, with `error` as its status when set."""

    error: BaseException | None = None


@dataclass(eq=False)
class Session:
    """One Connect stream. Everything sent to the agent goes through `outbox`, so only the stream's own
    generator writes to gRPC; `sent` keeps each message key pushed once per stream."""

    node_id: str
    connected_at: datetime
    outbox: asyncio.Queue[agent_pb.ServerMessage | _End] = field(default_factory=asyncio.Queue)
    sent: set[tuple[str, str, int]] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    hello: bool = False
    closed: bool = False
    # The watch list this stream last sent the agent; () until one was sent.
    watched: tuple[str, ...] = ()

    def push(self, message: agent_pb.ServerMessage) -> None:
        if not self.closed:
            self.outbox.put_nowait(message)

    def first_time(self, kind: str, assignment_id: str, attempt: int) -> bool:
        """True once per (kind, assignment, attempt) on this stream."""
        key = (kind, assignment_id, attempt)
        if key in self.sent:
            return False
        self.sent.add(key)
        return True

    def end(self, error: BaseException | None = None, *, reason: str = "") -> None:
        """Closes the stream: a Disconnect first when there is a reason to give, then the status."""
        if self.closed:
            return
        if reason:
            self.outbox.put_nowait(agent_pb.ServerMessage(disconnect=agent_pb.Disconnect(reason=reason)))
        self.closed = True
        self.outbox.put_nowait(_End(error))

    async def messages(self) -> AsyncIterator[agent_pb.ServerMessage]:
        """What the stream sends, until end(); raises the error end() was given."""
        while True:
            item = await self.outbox.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item


class SessionRegistry:
    """The live streams of this process, one per node: a newer stream of a node replaces the older."""

    def __init__(self) -> None:
        self._live: dict[str, Session] = {}

    def open(self, node_id: str, connected_at: datetime) -> Session:
        session = Session(node_id, connected_at)
        older = self._live.get(node_id)
        self._live[node_id] = session
        if older is not None:
            older.end(reason="a newer stream of this node replaced this one")
        return session

    def release(self, session: Session) -> None:
        if self._live.get(session.node_id) is session:
            del self._live[session.node_id]

    def get(self, node_id: str) -> Session | None:
        return self._live.get(node_id)

    def wake(self, node_id: str) -> None:
        session = self._live.get(node_id)
        if session is not None:
            session.wake.set()

    def wake_all(self) -> None:
        for session in self._live.values():
            session.wake.set()

    def node_ids(self) -> list[str]:
        return list(self._live)

    def close(self, node_id: str, error: DomainError, reason: str) -> bool:
        session = self._live.pop(node_id, None)
        if session is None:
            return False
        session.end(error, reason=reason)
        return True

    def close_all(self, reason: str) -> None:
        for session in list(self._live.values()):
            session.end(reason=reason)
        self._live.clear()

    def __len__(self) -> int:
        return len(self._live)


class WatchBook:
    """The software names every agent watches besides what it installed: those of the enabled sync
    policies. Read again after a policy changed (a hint on the reconcile channel) and on a timer, in case
    a hint was lost; every connected node whose stream sent other names is told the new ones."""

    def __init__(self, db: Database, registry: SessionRegistry, *, interval: float, retry: float) -> None:
        self.db, self.registry = db, registry
        self.interval, self.retry = interval, retry
        # None until the first read.
        self.names: tuple[str, ...] | None = None
        self.due = asyncio.Event()
        self.due.set()

    def hint(self, payload: str) -> None:
        """A reconcile hint: "policy:<id>", or "" after the listener reconnected (one may have been missed)."""
        if not payload or payload.startswith("policy:"):
            self.due.set()

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.due.wait(), self.interval)
            self.due.clear()
            try:
                await self.refresh()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not read the policies' software names, retrying: %s", exc)
                await asyncio.sleep(self.retry)
                self.due.set()
                continue
            for node_id in self.registry.node_ids():
                session = self.registry.get(node_id)
                if session is not None and session.hello:
                    self.tell(session)

    async def refresh(self) -> tuple[str, ...]:
        async with self.db.transaction() as session:
            rows = await _run(
                session,
                text("SELECT DISTINCT software_name FROM scheduler.policies WHERE enabled ORDER BY 1"),
                {},
            )
            self.names = tuple(str(row.software_name) for row in rows)
        return self.names

    def tell(self, session: Session) -> None:
        """Sends the agent the names when they differ from what its stream sent last. A stream with none to
        send and none sent stays quiet: an agent that kept an older list only looks up a few names more."""
        if self.names is None or self.names == session.watched:
            return
        session.watched = self.names
        session.push(agent_pb.ServerMessage(watch=agent_pb.Watch(software_names=self.names)))


@dataclass(frozen=True)
class Standing:
    """What the edge checks before it serves a node: its revocation and its latest enrollment."""

    # The reason of the revocation ("" if none was given), or None when the node is not revoked.
    revoked_reason: str | None
    # Certificates signed before this belong to an earlier holder of the node id; None: not recorded.
    enrolled_at: datetime | None


@dataclass(frozen=True)
class Quiet:
    """A node whose stream is gone (or whose process stopped hearing it) for longer than the grace."""

    node_id: str
    since: datetime


class NodeBook:
    """The scheduler's nodes table: revocation as the edge knows it, and which process holds each stream.

    Written with plain statements: each is one row, keyed by node id, and must be exact about which
    process's stream it concerns (a late disconnect must not erase a newer connection elsewhere)."""

    def __init__(self, db: Database, process: str) -> None:
        self.db, self.process = db, process

    async def revocation(self, node_id: str) -> str | None:
        """The reason the node was revoked ("" if none was given), or None when it is not revoked."""
        return (await self.standing(node_id)).revoked_reason

    async def standing(self, node_id: str) -> Standing:
        async with self.db.transaction() as session:
            row = (
                await _run(
                    session,
                    text(
                        "SELECT revoked_at, revoked_reason, enrolled_at FROM scheduler.nodes"
                        " WHERE node_id = :id"
                    ),
                    {"id": node_id},
                )
            ).first()
        if row is None:
            return Standing(None, None)
        return Standing(None if row.revoked_at is None else row.revoked_reason or "", row.enrolled_at)

    @staticmethod
    async def enrolled(
        session: AsyncSession, node_id: str, hostname: str, now: datetime, enrolled_at: datetime
    ) -> None:
        """A node enrolled (again): revocation cleared (an operator made a token for it), the enrollment's
        time kept (the certificates of an earlier holder of the id stop working), and counted as just
        disconnected, so that it goes offline after the grace unless it connects."""
        await _run(
            session,
            text(
                "INSERT INTO scheduler.nodes (node_id, hostname, disconnected_at, last_seen, enrolled_at)"
                " VALUES (:id, :hostname, :now, :now, :enrolled_at)"
                " ON CONFLICT (node_id) DO UPDATE SET hostname = :hostname, revoked_at = NULL,"
                " revoked_reason = '', connected_by = '', disconnected_at = :now, last_seen = :now,"
                " offline_at = NULL, enrolled_at = GREATEST(scheduler.nodes.enrolled_at, :enrolled_at)"
            ),
            {"id": node_id, "hostname": hostname[:253], "now": now, "enrolled_at": enrolled_at},
        )

    async def connected(self, node_id: str, hostname: str, now: datetime) -> None:
        async with self.db.transaction() as session:
            await _run(
                session,
                text(
                    "INSERT INTO scheduler.nodes (node_id, hostname, connected_by, connected_at, last_seen)"
                    " VALUES (:id, :hostname, :process, :now, :now)"
                    " ON CONFLICT (node_id) DO UPDATE SET connected_by = :process, connected_at = :now,"
                    " last_seen = :now, disconnected_at = NULL, offline_at = NULL,"
                    " hostname = CASE WHEN :hostname = '' THEN scheduler.nodes.hostname ELSE :hostname END"
                ),
                {"id": node_id, "hostname": hostname[:253], "process": self.process, "now": now},
            )

    async def seen(self, session: AsyncSession, node_id: str, now: datetime) -> None:
        """In the caller's transaction (a heartbeat also keeps the node's leases in the same one)."""
        await _run(
            session,
            text(
                "UPDATE scheduler.nodes SET last_seen = :now"
                " WHERE node_id = :id AND connected_by = :process AND last_seen < :now"
            ),
            {"id": node_id, "process": self.process, "now": now},
        )

    async def disconnected(self, node_id: str, connected_at: datetime, now: datetime) -> None:
        """Only if the row still names this stream: a newer one (here or elsewhere) must stay connected."""
        async with self.db.transaction() as session:
            await _run(
                session,
                text(
                    "UPDATE scheduler.nodes SET connected_by = '', disconnected_at = :now"
                    " WHERE node_id = :id AND connected_by = :process AND connected_at = :connected_at"
                ),
                {"id": node_id, "process": self.process, "connected_at": connected_at, "now": now},
            )

    @staticmethod
    async def revoked(session: AsyncSession, node_id: str, reason: str, now: datetime) -> None:
        """Marks the node revoked and tells every process (NOTIFY is delivered when the transaction commits)."""
        await _run(
            session,
            text(
                "INSERT INTO scheduler.nodes (node_id, revoked_at, revoked_reason) VALUES (:id, :now, :reason)"
                " ON CONFLICT (node_id) DO UPDATE SET revoked_at = :now, revoked_reason = :reason"
            ),
            {"id": node_id, "reason": reason[:1000], "now": now},
        )
        await notify(await session.connection(), REVOKED_CHANNEL, node_id)

    async def quiet(
        self, now: datetime, grace: timedelta, heartbeat: timedelta, limit: int = 500
    ) -> list[Quiet]:
        """Nodes not yet reported offline whose stream ended `grace` ago, or whose holder has not heard a
        heartbeat for `grace` plus one interval (that process died or lost the node silently)."""
        async with self.db.transaction() as session:
            rows = await _run(
                session,
                text(
                    "SELECT node_id, COALESCE(disconnected_at, last_seen) AS since FROM scheduler.nodes"
                    " WHERE offline_at IS NULL AND revoked_at IS NULL AND ("
                    " (connected_by = '' AND disconnected_at <= :ended)"
                    " OR (connected_by <> '' AND last_seen <= :silent)) LIMIT :limit"
                ),
                {"ended": now - grace, "silent": now - grace - heartbeat, "limit": limit},
            )
            return [Quiet(str(row.node_id), row.since) for row in rows]

    async def reported_offline(self, node: Quiet, now: datetime) -> None:
        """Remembers the offline report unless the node came back meanwhile."""
        async with self.db.transaction() as session:
            await _run(
                session,
                text(
                    "UPDATE scheduler.nodes SET offline_at = :now, connected_by = '',"
                    " disconnected_at = COALESCE(disconnected_at, last_seen)"
                    " WHERE node_id = :id AND offline_at IS NULL AND COALESCE(disconnected_at, last_seen) = :since"
                ),
                {"id": node.node_id, "since": node.since, "now": now},
            )


async def _run(session: AsyncSession, statement: Any, params: dict[str, Any]) -> Any:
    """A plain statement on the session's connection (its transaction)."""
    return await (await session.connection()).execute(statement, params)
