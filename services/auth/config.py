"""Settings of the auth process (CONVOY_AUTH_* plus the shared CONVOY_* variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

__all__ = ["AuthSettings"]


class AuthSettings(ServiceSettings):
    service_name = "auth"
    model_config = SettingsConfigDict(env_prefix="CONVOY_AUTH_", extra="ignore", frozen=True)

    listen: str = "127.0.0.1:50051"
    jwt_key_file: Path = Path("var/keys/jwt-ed25519.pem")
    jwt_issuer: str = "convoy"
    jwt_audience: str = "convoy-api"
    access_token_seconds: int = Field(900, ge=60, le=3600)
    refresh_token_seconds: int = Field(7 * 24 * 3600, ge=3600)
    # Login throttling: per username and per client address, within a sliding window.
    throttle_window_seconds: int = Field(900, ge=1)
    throttle_user_failures: int = Field(5, ge=1)
    throttle_address_failures: int = Field(50, ge=1)
    throttle_block_seconds: int = Field(60, ge=1)
    throttle_max_block_seconds: int = Field(900, ge=1)
    # Argon2id, OWASP's minimum profile (19 MiB, 2 passes, 1 lane); raising them rehashes on next login.
    argon2_memory_kib: int = Field(19456, ge=8)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1)
