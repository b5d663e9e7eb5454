"""Settings of the catalog process (CONVOY_CATALOG_* plus the shared CONVOY_* variables)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kit.runtime import AuthClientSettings

__all__ = ["CatalogSettings"]


class CatalogSettings(AuthClientSettings):
    service_name = "catalog"
    model_config = SettingsConfigDict(env_prefix="CONVOY_CATALOG_", extra="ignore", frozen=True)

    listen: str = "127.0.0.1:50053"
    transfer_target: str = "127.0.0.1:50055"
