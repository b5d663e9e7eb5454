"""Each service migrates only its own schema, keeps its own version table, and migrating twice is a no-op."""

from __future__ import annotations

import asyncio

import pytest

from devstack.postgres import LocalPostgres
from services.auth.models import SCHEMA
from services.kit.migrations import migrate
from tests.support.stack import fresh_database, superuser_connection

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_auth_migrates_into_its_own_schema_only(postgres: LocalPostgres) -> None:
    url = await fresh_database(postgres, "migrations")
    await asyncio.to_thread(migrate, url, "services.auth", SCHEMA)  # a second run changes nothing
    async with superuser_connection(url) as db:
        tables = {
            (row["table_schema"], row["table_name"])
            for row in await db.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        }
        version = await db.fetchval("SELECT version_num FROM auth.alembic_version")
    assert {schema for schema, _ in tables} == {"auth"}
    assert {
        "users",
        "refresh_tokens",
        "login_throttle",
        "audit_log",
        "join_tokens",
        "nodes",
        "alembic_version",
    } <= {t for _, t in tables}
    assert version == "0003"
