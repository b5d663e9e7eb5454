"""WatchDeployment: the kept events after a sequence number, then new ones as they commit.

A watcher reads events from the table itself, a page at a time, and between pages waits for a
notification (or `poll_seconds`). Its queue is therefore one wake-up flag, however slow its client:
nothing piles up in memory, and a slow client reads on from where it was.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import func
from sqlmodel import col, select

from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.errors import InvalidArgument
from services.scheduler.events import EVENTS_CHANNEL, event_from_row
from services.scheduler.models import Event
from services.scheduler.notify import Listener
from services.scheduler.service import Core
from services.scheduler.store import load_deployment

__all__ = ["WatchUseCase", "PAGE"]

PAGE = 500


class WatchUseCase:
    def __init__(self, core: Core, listener: Listener | None, *, poll_seconds: float) -> None:
        self.core, self._listener, self._poll = core, listener, poll_seconds

    async def watch(self, deployment_id: str, since_sequence: int) -> AsyncIterator[pb.DeploymentEvent]:
        self.core.require_reader()
        if since_sequence < 0:
            raise InvalidArgument("since_sequence must not be negative")
        wanted: uuid.UUID | None = None
        async with self.core.db.transaction() as session:
            if deployment_id:
                wanted = (await load_deployment(session, deployment_id)).id
            last = (
                since_sequence
                or (await session.exec(select(func.coalesce(func.max(Event.sequence), 0)))).one()
            )
        wake = asyncio.Event()
        if self._listener is None:
            async for event in self._follow(wanted, last, wake):
                yield event
            return
        with self._listener.subscribe(EVENTS_CHANNEL, lambda _payload: wake.set()):
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
