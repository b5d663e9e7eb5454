"""Settings of the catalog process (CONVOY_CATALOG_* plus the shared CONVOY_* variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

__all__ = ["CatalogSettings"]


class CatalogSettings(ServiceSettings):
    service_name = "catalog"
    model_config = SettingsConfigDict(env_prefix="CONVOY_CATALOG_", extra="ignore", frozen=True)

    listen: str = "127.0.0.1:50053"
    # Audit records and token keys come from auth; artifact references live in transfer.
    auth_target: str = "127.0.0.1:50051"
    transfer_target: str = "127.0.0.1:50055"
    upstream_timeout_seconds: float = Field(10.0, gt=0)
