"""Settings of the auth process (CONVOY_AUTH_* plus the shared CONVOY_* variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.kit.pki import NODE_CA_STEM
from services.kit.settings import ServiceSettings

__all__ = ["AuthSettings"]


def _node_ca_key_in_pki_dir(data: dict[str, Any]) -> Path | None:
    pki_dir = data.get("pki_dir")
    return Path(pki_dir) / f"{NODE_CA_STEM}-key.pem" if pki_dir else None


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
    # Failed enrollments (bad join token, CSR or hostname) per agent address before it is blocked: every
    # failure writes an audit record, so the enrollment port must not let anyone write them at will.
    throttle_enroll_failures: int = Field(20, ge=1)
    throttle_block_seconds: int = Field(60, ge=1)
    throttle_max_block_seconds: int = Field(900, ge=1)
    # Argon2id, OWASP's minimum profile (19 MiB, 2 passes, 1 lane); raising them rehashes on next login.
    argon2_memory_kib: int = Field(19456, ge=8)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1)
    # The node CA (certificate: CONVOY_AUTH_NODE_CA, key: CONVOY_AUTH_NODE_CA_KEY) signs agents' client
    # certificates; only auth holds its key. Without both files this server enrolls no nodes.
    node_ca_key: Path | None = Field(default_factory=_node_ca_key_in_pki_dir)
    # Short-lived node certificates limit what a stolen one is worth; agents renew well before expiry.
    node_cert_hours: int = Field(72, ge=1, le=720)
    # Join tokens live 15 to 60 minutes (a request may choose within the bounds) and serve few enrollments.
    join_token_min_seconds: int = Field(900, ge=60)
    join_token_max_seconds: int = Field(3600, ge=60)
    join_token_default_seconds: int = Field(1800, ge=60)
    join_token_max_uses: int = Field(1000, ge=1)

    @model_validator(mode="after")
    def _join_token_bounds_in_order(self) -> AuthSettings:
        if not self.join_token_min_seconds <= self.join_token_default_seconds <= self.join_token_max_seconds:
            raise ValueError("join token lifetimes must satisfy min <= default <= max")
        return self
