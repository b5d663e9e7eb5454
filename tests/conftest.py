"""Fixtures shared by the whole test suite."""

from collections.abc import Iterator

import pytest

from devstack.postgres import LocalPostgres

# --- PostgreSQL ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A throwaway PostgreSQL server for the session; tests isolate themselves with their own databases."""
    server = LocalPostgres(tmp_path_factory.mktemp("postgres") / "data", durable=False)
    server.start()
    yield server
    # Nothing in it is worth a shutdown checkpoint.
    server.stop(fast=False)
