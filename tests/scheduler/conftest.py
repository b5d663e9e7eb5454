"""Fixtures of the scheduler tests: real auth, inventory and catalog (with an in-memory transfer), and a
real scheduler on its own database, shared by one test module."""

from collections.abc import AsyncIterator

import pytest

from convoy.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from tests.support.catalog import (
    CatalogStack,
    MemoryTransfer,
)
from tests.support.inventory import InventoryStack
from tests.support.scheduler import Fleet, SchedulerStack, start_scheduler
from tests.support.stack import AuthStack
from tests.support.users import Users


@pytest.fixture(scope="module")
async def scheduler(
    postgres: LocalPostgres,
    auth_stack: AuthStack,
    inventory: InventoryStack,
    catalog: CatalogStack,
    request: pytest.FixtureRequest,
) -> AsyncIterator[SchedulerStack]:
    """The module may set `SCHEDULER_SETTINGS = {...}` (settings, or with_reconciler=False)."""
    settings = {"poll_seconds": 0.2, **getattr(request.module, "SCHEDULER_SETTINGS", {})}
    async with start_scheduler(
        postgres,
        auth_stack,
        inventory_target=inventory.target,
        catalog_target=catalog.target,
        **settings,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(scheduler: SchedulerStack) -> AsyncIterator[pb_grpc.SchedulerServiceStub]:
    """Calls as the gateway does: its certificate plus the user's access token."""
    async with scheduler.stub("gateway") as stub:
        yield stub


@pytest.fixture(scope="module")
def fleet(inventory: InventoryStack, catalog: CatalogStack, transfer: MemoryTransfer, users: Users) -> Fleet:
    return Fleet(inventory, catalog, transfer, users.operator)
