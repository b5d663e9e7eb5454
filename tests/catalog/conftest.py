"""Fixtures of the catalog tests (the in-memory transfer and the catalog itself come from tests/conftest.py)."""

from collections.abc import AsyncIterator

import pytest

from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from tests.support.catalog import CatalogStack


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
