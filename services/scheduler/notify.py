"""LISTEN on PostgreSQL channels from one dedicated connection per process, reconnecting when it drops.

Notifications are hints: whoever listens also polls, and every (re)connection wakes all subscribers
once, because notifications sent while the connection was down are lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import make_url

__all__ = ["Listener", "plain_dsn"]

log = logging.getLogger("convoy.scheduler.notify")

Callback = Callable[[str], None]


def plain_dsn(database_url: str) -> str:
    """The SQLAlchemy URL (postgresql+asyncpg://…) as asyncpg's own DSN."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """Calls every subscriber of a channel with each payload; "" after a reconnection (anything may
    have been missed)."""

    def __init__(self, database_url: str, channels: tuple[str, ...], *, retry_seconds: float = 1.0) -> None:
        self._dsn = plain_dsn(database_url)
        self._channels = channels
        self._retry = retry_seconds
        self._subscribers: dict[str, list[Callback]] = {channel: [] for channel in channels}
        self.connected = asyncio.Event()

    @contextmanager
    def subscribe(self, channel: str, callback: Callback) -> Iterator[None]:
        self._subscribers[channel].append(callback)
        try:
            yield
        finally:
            self._subscribers[channel].remove(callback)

    def _deliver(self, channel: str, payload: str) -> None:
        for callback in list(self._subscribers.get(channel, ())):
            callback(payload)

    def _on_notification(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        self._deliver(channel, payload)

    async def run(self) -> None:
        """Until cancelled: listen, and reconnect after a pause whenever the connection is lost."""
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, event=lost: event.set())
                for channel in self._channels:
                    await connection.add_listener(channel, self._on_notification)
                self.connected.set()
                for channel in self._channels:
                    self._deliver(channel, "")
                await lost.wait()
                log.warning("the notification connection was lost; reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cannot listen for notifications (%s); retrying", exc)
            finally:
                self.connected.clear()
                if connection is not None:
                    await _close(connection)
            await asyncio.sleep(self._retry)


async def _close(connection: asyncpg.Connection) -> None:
    """Says goodbye to the server when it can; drops the socket at once (terminate) when the close fails or
    is itself cancelled (the listener is stopping): an interrupted close would leave the connection open."""
    if connection.is_closed():
        return
    try:
        await connection.close(timeout=2)
    except asyncio.CancelledError:
        connection.terminate()
        raise
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("closing the notification connection failed (%s); dropping it", exc)
        connection.terminate()
