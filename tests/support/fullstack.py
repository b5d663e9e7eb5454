"""Auth, transfer, catalog and inventory as real gRPC servers (mTLS, port 0) with the real gateway in front."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack.postgres import LocalPostgres
from tests.support.catalog import CatalogStack, catalog_database, start_catalog
from tests.support.inventory import InventoryStack, start_inventory
from tests.support.scheduler import SchedulerStack, start_scheduler
from tests.support.stack import AuthStack, gateway_client
from tests.support.transfer import TransferStack, start_transfer, transfer_database, transfer_settings

__all__ = ["FullStack", "full_stack"]


@dataclass
class FullStack:
    auth: AuthStack
    inventory: InventoryStack
    transfer: TransferStack
    catalog: CatalogStack
    client: httpx.AsyncClient
    # Only when asked for (`full_stack(..., scheduler={...})`).
    scheduler: SchedulerStack | None = None

    @property
    def storage_root(self) -> Path:
        return self.transfer.storage_root


@asynccontextmanager
async def full_stack(
    postgres: LocalPostgres,
    auth: AuthStack,
    workdir: Path,
    *,
    transfer: dict[str, Any] | None = None,
    scheduler: dict[str, Any] | None = None,
    **gateway_settings: Any,
) -> AsyncIterator[FullStack]:
    """Every service of the control plane, each on its own database, behind one gateway; the scheduler only
    when `scheduler` is given (its settings overrides, {} for none). `transfer` overrides transfer's
    settings, the other keywords the gateway's."""
    async with AsyncExitStack() as stack:
        inventory = await stack.enter_async_context(start_inventory(postgres, auth))
        settings = transfer_settings(
            await transfer_database(postgres),
            auth.pki_dir,
            workdir / "artifacts",
            auth.target,
            **(transfer or {}),
        )
        store = await stack.enter_async_context(start_transfer(settings))
        catalog = await stack.enter_async_context(
            start_catalog(await catalog_database(postgres), auth, transfer_target=store.target)
        )
        planner = None
        if scheduler is not None:
            targets = {
                "inventory_target": inventory.target,
                "catalog_target": catalog.target,
                "transfer_target": store.target,
            }
            planner = await stack.enter_async_context(
                start_scheduler(postgres, auth, **{**targets, **scheduler})
            )
            # The join commands the gateway prints then name the enrollment port that really listens.
            ours = {"scheduler_target": planner.target, "agent_enroll_address": planner.enroll_target}
            gateway_settings = {**ours, **gateway_settings}
        client = await stack.enter_async_context(
            gateway_client(
                auth.target,
                auth.pki_dir,
                inventory_target=inventory.target,
                transfer_target=store.target,
                catalog_target=catalog.target,
                **gateway_settings,
            )
        )
        yield FullStack(auth, inventory, store, catalog, client, planner)
