"""Fixtures shared by the whole test suite: a throwaway PostgreSQL, a test PKI, a real auth server."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres, throwaway_postgres
from services.kit.pki import write_pki_dir
from tests.support.catalog import (
    CatalogStack,
    MemoryTransfer,
    catalog_database,
    memory_transfer,
    start_catalog,
)
from tests.support.inventory import InventoryStack, start_inventory
from tests.support.stack import SERVICE_CERTIFICATES, AuthStack, start_fresh_auth
from tests.support.users import Users, make_users


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A throwaway PostgreSQL server for the session; tests isolate themselves with their own databases."""
    with throwaway_postgres(tmp_path_factory.mktemp("postgres") / "data") as server:
        yield server


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private CA with certificates for the services."""
    directory = tmp_path_factory.mktemp("pki") / "pki"
    write_pki_dir(directory, SERVICE_CERTIFICATES)
    return directory


@pytest.fixture(scope="module")
async def auth_stack(
    postgres: LocalPostgres, pki_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AuthStack]:
    """A real auth server over mTLS on its own migrated database, shared by one test module."""
    async with start_fresh_auth(postgres, pki_dir, tmp_path_factory.mktemp("keys") / "jwt.pem") as stack:
        yield stack


@pytest.fixture(scope="module")
async def users(auth_stack: AuthStack) -> Users:
    """The admin and a fresh operator and viewer on the module's auth server."""
    return await make_users(auth_stack)


@pytest.fixture(scope="module")
async def inventory(postgres: LocalPostgres, auth_stack: AuthStack) -> AsyncIterator[InventoryStack]:
    """A real inventory server on its own database, shared by one test module."""
    async with start_inventory(postgres, auth_stack) as stack:
        yield stack


@pytest.fixture(scope="module")
async def transfer(pki_dir: Path) -> AsyncIterator[MemoryTransfer]:
    """An in-memory stand-in for transfer that catalog can stat and reference blobs in."""
    async with memory_transfer(pki_dir) as store:
        yield store


@pytest.fixture(scope="module")
async def catalog(
    postgres: LocalPostgres, auth_stack: AuthStack, transfer: MemoryTransfer
) -> AsyncIterator[CatalogStack]:
    """A real catalog on its own database, over the in-memory transfer, shared by one test module."""
    url = await catalog_database(postgres)
    async with start_catalog(url, auth_stack, transfer_target=transfer.target) as stack:
        yield stack
