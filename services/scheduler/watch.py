"""WatchDeployment: the kept events after a sequence number, then new ones as they commit.

A watcher reads events from the table itself, a page at a time, and between pages waits for a
notification (or `poll_seconds`). Its queue is therefore one wake-up flag, however slow its client:
nothing piles up in memory, and a slow client reads on from where it was.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

from sqlalchemy import cast, func
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlmodel import col, select

from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.errors import InvalidArgument, OutOfRange
from services.scheduler.events import EVENTS_CHANNEL, concerns, event_from_row
from services.scheduler.models import SCHEMA, Event
from services.scheduler.notify import Listener
from services.scheduler.service import Core
from services.scheduler.store import load_deployment

__all__ = ["WatchUseCase", "PAGE"]

PAGE = 500
# The highest sequence ever handed out (0 before the first): unlike max(sequence), the events the
# retention deleted still count, so a client resuming after one of them is not refused.
_LAST_ISSUED = func.coalesce(
    func.pg_sequence_last_value(cast(func.pg_get_serial_sequence(f"{SCHEMA}.events", "sequence"), REGCLASS)),
    0,
)


class WatchUseCase:
    def __init__(self, core: Core, listener: Listener | None, *, poll_seconds: float) -> None:
        self.core, self._listener, self._poll = core, listener, poll_seconds

    async def watch(self, deployment_id: str, since_sequence: int) -> AsyncIterator[pb.DeploymentEvent]:
        """`open`, as one generator: the checks run at its first step."""
        async for event in await self.open(deployment_id, since_sequence):
            yield event

    async def open(self, deployment_id: str, since_sequence: int) -> AsyncIterator[pb.DeploymentEvent]:
        """Checks the request now and returns the events; a caller that must answer before the first
        event exists (headers of a stream) can tell a refused watch from a quiet one."""
        self.core.require_reader()
        if since_sequence < 0:
            raise InvalidArgument("since_sequence must not be negative")
        wanted: uuid.UUID | None = None
        async with self.core.db.transaction() as session:
            if deployment_id:
                wanted = (await load_deployment(session, deployment_id)).id
            if since_sequence:
                # Beyond every sequence ever issued (the database was reset or restored since the client
                # saw it): following would deliver nothing until new events pass it, silently.
                issued = (await session.exec(select(_LAST_ISSUED))).one()
                if since_sequence > issued:
                    raise OutOfRange(
                        f"since_sequence {since_sequence} is beyond the last event ({issued}); the event log "
                        "was reset or restored: watch again from 0 (new events only) or from a sequence "
                        "at most the last one"
                    )
                last = since_sequence
            else:
                last = (await session.exec(select(func.coalesce(func.max(Event.sequence), 0)))).one()
        return self._stream(wanted, last)

    async def _stream(self, wanted: uuid.UUID | None, last: int) -> AsyncIterator[pb.DeploymentEvent]:
        wake = asyncio.Event()
        if self._listener is None:
            async for event in self._follow(wanted, last, wake):
                yield event
            return
        with self._listener.subscribe(EVENTS_CHANNEL, _waker(wake, wanted)):
            async for event in self._follow(wanted, last, wake):
                yield event

    async def _follow(
        self, wanted: uuid.UUID | None, last: int, wake: asyncio.Event
    ) -> AsyncIterator[pb.DeploymentEvent]:
        while True:
            wake.clear()
            rows = await self._page(wanted, last)
            for sequence, time, payload in rows:
                last = sequence
                yield event_from_row(sequence, time, payload)
            if len(rows) == PAGE:
                continue
            try:
                await asyncio.wait_for(wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass

    async def _page(self, wanted: uuid.UUID | None, last: int) -> list[tuple[int, object, bytes]]:
        statement = select(Event.sequence, Event.time, Event.payload).where(col(Event.sequence) > last)
        if wanted is not None:
            statement = statement.where(col(Event.deployment_id) == wanted)
        async with self.core.db.transaction() as session:
            return list(await session.exec(statement.order_by(col(Event.sequence)).limit(PAGE)))  # type: ignore[arg-type]


def _waker(wake: asyncio.Event, wanted: uuid.UUID | None) -> Callable[[str], None]:
    """Wakes the watcher for notifications that may concern its deployment (all, when it watches all)."""
    key = str(wanted) if wanted is not None else ""

    def on_events(payload: str) -> None:
        if not key or concerns(payload, key):
            wake.set()

    return on_events
