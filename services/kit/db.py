"""One async engine per process and one transaction-scoped session per use case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.metrics import DB_POOLS
from services.kit.telemetry import trace_engine

__all__ = ["Database", "AsyncSession"]

# Connections beyond pool_size a busy moment may open (closed again once returned).
_MAX_OVERFLOW = 10


class Database:
    """Owns the engine; `transaction()` is the unit of work a use case runs in."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=_MAX_OVERFLOW, pool_pre_ping=True
        )
        DB_POOLS.track(self.engine, pool_size + _MAX_OVERFLOW)
        trace_engine(self.engine)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Commits when the block ends normally, rolls back when it raises."""
        async with self._sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        DB_POOLS.forget(self.engine)
        await self.engine.dispose()
