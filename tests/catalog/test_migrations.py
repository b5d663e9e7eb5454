"""The hand-written migration creates exactly what the models declare, in the catalog schema only."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import services.catalog.models  # noqa: F401 - registers the tables on the metadata
from devstack.postgres import LocalPostgres
from tests.support.catalog import catalog_database
from tests.support.stack import superuser_connection

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _catalog_metadata() -> MetaData:
    """Only catalog's tables (other services' models may be loaded in the same test session)."""
    metadata = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        if table.schema == "catalog":
            table.to_metadata(metadata)
    return metadata


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": lambda name, kind, _: kind != "schema" or name == "catalog",
        },
    )
    differences = compare_metadata(context, _catalog_metadata())
    # The version table is alembic's own.
    return [d for d in differences if not (d[0] == "remove_table" and d[1].name == "alembic_version")]


async def test_the_migration_matches_the_models(postgres: LocalPostgres) -> None:
    url = await catalog_database(postgres)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()
    async with superuser_connection(url) as db:
        schemas = {
            row["table_schema"]
            for row in await db.fetch("SELECT table_schema FROM information_schema.tables")
        }
    assert "catalog" in schemas and "auth" not in schemas
