"""Settings of the inventory process (CONVOY_INVENTORY_* plus the shared CONVOY_* variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

__all__ = ["InventorySettings"]


class InventorySettings(ServiceSettings):
    service_name = "inventory"
    model_config = SettingsConfigDict(env_prefix="CONVOY_INVENTORY_", extra="ignore", frozen=True)

    listen: str = "127.0.0.1:50052"
    # auth publishes the token keys and keeps the audit log.
    auth_target: str = "127.0.0.1:50051"
    # Deadline of each call to auth (audit records, token keys).
    auth_timeout_seconds: float = Field(5.0, gt=0)
