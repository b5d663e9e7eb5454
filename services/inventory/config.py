"""Settings of the inventory process (CONVOY_INVENTORY_* plus the shared CONVOY_* variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.runtime import AuthClientSettings

__all__ = ["InventorySettings"]


class InventorySettings(AuthClientSettings):
    service_name = "inventory"
    model_config = SettingsConfigDict(env_prefix="CONVOY_INVENTORY_", extra="ignore", frozen=True)

    listen: str = "127.0.0.1:50052"
    # How often the servers gauge (/metrics) is read from the database.
    stats_seconds: float = Field(15.0, gt=0)
