"""LocalPostgres: a real server from a local data directory, restartable, with databases copied from templates."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack.postgres import LocalPostgres, LocalPostgresError, find_pg_bin


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def fetch_value(server: LocalPostgres, database: str, query: str) -> object:
    connection = await asyncpg.connect(server.url(database, driver="postgresql"))
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def execute(server: LocalPostgres, database: str, statements: str) -> None:
    connection = await asyncpg.connect(server.url(database, driver="postgresql"))
    try:
        await connection.execute(statements)
    finally:
        await connection.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalPostgres]:
    """A server of the test's own, for tests that stop and start it."""
    server = LocalPostgres(tmp_path / "data", durable=False)
    yield server
    server.stop(fast=False)


async def test_database_created_from_a_template_has_its_tables(postgres: LocalPostgres) -> None:
    template, copy = unique("tmpl"), unique("copy")
    postgres.create_database(template)
    await execute(
        postgres, template, "CREATE TABLE widgets (name text); INSERT INTO widgets VALUES ('sprocket')"
    )

    postgres.create_database(copy, template=template)

    assert await fetch_value(postgres, copy, "SELECT name FROM widgets") == "sprocket"
    postgres.drop_database(copy)
    postgres.drop_database(template)


async def test_create_database_twice_needs_exist_ok(postgres: LocalPostgres) -> None:
    name = unique("twice")
    postgres.create_database(name)

    postgres.create_database(name, exist_ok=True)
    with pytest.raises(LocalPostgresError, match="already exists"):
        postgres.create_database(name)

    postgres.drop_database(name)
    assert (
        await fetch_value(postgres, "postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{name}'")
        == 0
    )


@pytest.mark.parametrize(
    "name", ['x"; DROP DATABASE postgres; --', "Upper", "1starts_with_digit", "a" * 64, ""]
)
def test_unsafe_database_names_are_refused(postgres: LocalPostgres, name: str) -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        postgres.create_database(name)


def test_url_names_driver_port_and_database(postgres: LocalPostgres) -> None:
    assert postgres.url("convoy") == f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/convoy"


async def test_starting_a_running_server_again_reuses_it(server: LocalPostgres) -> None:
    server.start()
    port = server.port

    server.start()
    # What a second `make up` does: a new object for the same data directory.
    again = LocalPostgres(server.data_dir, durable=False)
    again.start()

    assert server.port == again.port == port
    assert await fetch_value(again, "postgres", "SELECT 1") == 1


async def test_stopped_server_starts_again_with_its_data(server: LocalPostgres) -> None:
    server.start()
    server.create_database("kept")
    server.stop()
    assert not server.is_running()

    server.start()

    assert server.is_running()
    assert await fetch_value(server, "kept", "SELECT current_database()") == "kept"


async def test_start_survives_a_stale_pid_file(server: LocalPostgres) -> None:
    server.start()
    pid_file = server.data_dir / "postmaster.pid"
    left_behind = pid_file.read_text()
    server.stop(fast=False)
    write_as_owner_of_data_dir(pid_file, left_behind)

    server.start()

    assert await fetch_value(server, "postgres", "SELECT 1") == 1


async def test_start_ignores_a_pid_file_naming_another_server(
    server: LocalPostgres, postgres: LocalPostgres
) -> None:
    """After a restart the recorded PID may belong to someone else, here the session's server."""
    server.start()
    server.stop(fast=False)
    other_pid_file = (postgres.data_dir / "postmaster.pid").read_text()
    write_as_owner_of_data_dir(server.data_dir / "postmaster.pid", other_pid_file)

    server.start()

    assert server.port != postgres.port
    assert await fetch_value(server, "postgres", "SELECT 1") == 1
    assert await fetch_value(postgres, "postgres", "SELECT 1") == 1


def write_as_owner_of_data_dir(path: Path, text: str) -> None:
    path.write_text(text)
    owner = path.parent.stat()
    os.chown(path, owner.st_uid, owner.st_gid)
    path.chmod(0o600)


def test_pg_bin_without_initdb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_BIN", str(tmp_path))

    with pytest.raises(RuntimeError, match="has no initdb"):
        find_pg_bin()
