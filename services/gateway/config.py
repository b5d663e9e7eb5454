"""Settings of the gateway process (CONVOY_GATEWAY_* plus the shared CONVOY_* variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

__all__ = ["GatewaySettings"]

# The console's build in a source checkout (`npm run build` in frontend/).
_CONSOLE_BUILD = Path(__file__).resolve().parents[2] / "frontend" / "dist"
# The agent's packages in a source checkout (`make agent-packages`).
_AGENT_PACKAGES = Path(__file__).resolve().parents[2] / "dist" / "agent"


class GatewaySettings(ServiceSettings):
    service_name = "gateway"
    model_config = SettingsConfigDict(env_prefix="CONVOY_GATEWAY_", extra="ignore", frozen=True)

    # Where HTTP(S) is served: CONVOY_GATEWAY_ADDR.
    addr: str = "127.0.0.1:8080"
    auth_target: str = "127.0.0.1:50051"
    inventory_target: str = "127.0.0.1:50052"
    catalog_target: str = "127.0.0.1:50053"
    transfer_target: str = "127.0.0.1:50055"
    scheduler_target: str = "127.0.0.1:50054"
    # The scheduler's enrollment port as nodes reach it: goes into the join command an operator runs there.
    agent_enroll_address: str = Field("127.0.0.1:50058", min_length=1, max_length=253)
    # A comment line on an idle event stream this often, so proxies and browsers keep the connection.
    events_heartbeat_seconds: float = Field(15.0, gt=0, le=300)
    # Event streams one user may hold open at once on this process; more are refused (429).
    events_max_streams_per_user: int = Field(10, ge=1, le=1000)
    # How long a new event stream waits for the scheduler to accept the watch, so that a refusal is still
    # an HTTP error; a scheduler silent for longer is taken to have accepted (a refusal is then an event).
    events_start_seconds: float = Field(2.0, gt=0, le=60)
    # Bytes per gRPC message when streaming an upload to transfer or a download to the client.
    stream_chunk_bytes: int = Field(1024 * 1024, ge=4096, le=4 * 1024 * 1024)
    # Largest package accepted (transfer has its own limit too); uploads may take this long.
    max_upload_bytes: int = Field(4 * 1024**3, ge=1024)
    upload_timeout_seconds: float = Field(3600.0, gt=0)
    # Serve HTTPS when both are set (the gRPC client certificate comes from the PKI settings).
    https_cert: Path | None = None
    https_key: Path | None = None
    # The built web console served at `/` (CONVOY_GATEWAY_CONSOLE_DIR); nothing is served when it is absent.
    console_dir: Path | None = _CONSOLE_BUILD
    # The agent packages the install command downloads (CONVOY_GATEWAY_AGENT_PACKAGES_DIR).
    agent_packages_dir: Path | None = _AGENT_PACKAGES
    # The gateway's URL as nodes reach it, for the install command; empty: the URL a request came in on.
    public_url: str = Field(
        "", max_length=2000, pattern=r"^(https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~/-]*)?)?$"
    )
    upstream_timeout_seconds: float = Field(10.0, gt=0)
    readiness_timeout_seconds: float = Field(2.0, gt=0)

    @property
    def https(self) -> bool:
        return bool(self.https_cert and self.https_key)

    @property
    def url(self) -> str:
        host, _, port = self.addr.rpartition(":")
        return f"{'https' if self.https else 'http'}://{host}:{port}"
