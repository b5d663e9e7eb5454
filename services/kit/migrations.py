"""Alembic glue: each service migrates only its own schema, with its own version table, on request."""

from __future__ import annotations

import asyncio
import zlib

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["migrate", "run_env"]


def migrate(database_url: str, package: str, schema: str, revision: str = "head") -> None:
    """Upgrades `schema` with the scripts in `<package>/migrations` (an explicit command, never at import)."""
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    config.attributes.update(database_url=database_url, schema=schema)
    command.upgrade(config, revision)


def run_env(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    asyncio.run(_run_online(metadata))


async def _run_online(metadata: MetaData) -> None:
    attributes = context.config.attributes
    engine = create_async_engine(attributes["database_url"])
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade, metadata, attributes["schema"])
            await connection.commit()
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, metadata: MetaData, schema: str) -> None:
    # Two migrators at once (a Job and an impatient operator) would race on DDL: serialise per schema.
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": zlib.crc32(schema.encode())})
    try:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table="alembic_version",
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, kind, _parent: kind != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": zlib.crc32(schema.encode())})
