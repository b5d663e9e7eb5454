"""Health follows the database: NOT_SERVING while PostgreSQL is down, SERVING again once it is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.auth.models import SCHEMA
from services.kit.migrations import migrate
from tests.support.auth_process import NOT_SERVING, SERVING, health_status
from tests.support.stack import auth_settings, start_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def wait_for_status(channel: grpc.aio.Channel, wanted: int, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = None
    while loop.time() < deadline:
        seen = await health_status(channel, "convoy.auth.v1.AuthService")
        if seen == wanted:
            return
        await asyncio.sleep(0.1)
    name = health_pb2.HealthCheckResponse.ServingStatus.Name
    raise AssertionError(f"health stayed {name(seen or 0)}, wanted {name(wanted)} within {timeout}s")


async def test_health_tracks_the_database(pki_dir: Path, tmp_path: Path) -> None:
    # A server of its own: stopping the shared one would pull the floor from under every other test.
    database = LocalPostgres(tmp_path / "pg", port=free_port(), durable=False)
    await asyncio.to_thread(database.start)
    try:
        await asyncio.to_thread(database.create_database, "convoy")
        await asyncio.to_thread(migrate, database.url("convoy"), "services.auth", SCHEMA)
        settings = auth_settings(
            database.url("convoy"), pki_dir, tmp_path / "jwt.pem", probe_interval_seconds=0.2
        )
        async with start_auth(settings) as stack, stack.channel() as channel:
            await wait_for_status(channel, SERVING)
            await asyncio.to_thread(database.stop)
            await wait_for_status(channel, NOT_SERVING)
            await asyncio.to_thread(database.start)
            await wait_for_status(channel, SERVING)
    finally:
        await asyncio.to_thread(database.stop)
