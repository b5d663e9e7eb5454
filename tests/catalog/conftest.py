"""Fixtures of the catalog tests: an in-memory transfer, a real catalog on its own database, users."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from tests.support.catalog import (
    CatalogStack,
    MemoryTransfer,
    catalog_database,
    memory_transfer,
    start_catalog,
)
from tests.support.stack import AuthStack


@pytest.fixture(scope="module")
async def transfer(pki_dir: Path) -> AsyncIterator[MemoryTransfer]:
    async with memory_transfer(pki_dir) as store:
        yield store


@pytest.fixture(scope="module")
async def catalog(
    postgres: LocalPostgres, auth_stack: AuthStack, transfer: MemoryTransfer
) -> AsyncIterator[CatalogStack]:
    url = await catalog_database(postgres)
    async with start_catalog(url, auth_stack, transfer_target=transfer.target) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(catalog: CatalogStack) -> AsyncIterator[pb_grpc.CatalogServiceStub]:
    """Calls as the gateway does: its certificate plus the user's access token."""
    channel = catalog.channel("gateway")
    yield pb_grpc.CatalogServiceStub(channel)
    await channel.close()


@pytest.fixture(scope="module")
async def service(catalog: CatalogStack) -> AsyncIterator[pb_grpc.CatalogServiceStub]:
    """Calls as another service (the scheduler) does: its own certificate, no user token."""
    channel = catalog.channel("scheduler")
    yield pb_grpc.CatalogServiceStub(channel)
    await channel.close()
