"""Typed process settings: shared CONVOY_* variables plus one prefix per service (CONVOY_AUTH_ …)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from services.kit.pki import NODE_CA_STEM

__all__ = ["ServiceSettings", "TlsFiles", "PLACEHOLDER_SECRETS", "load_settings"]

# Values that mean "nobody set this": accepted in dev mode, refused anywhere else.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "password", "postgres", "example", "convoy"}
)


class TlsFiles:
    """Certificate, key and CA bundle paths of one process."""

    def __init__(self, cert: Path, key: Path, ca: Path) -> None:
        self.cert, self.key, self.ca = cert, key, ca

    def read(self) -> tuple[bytes, bytes, bytes]:
        return self.cert.read_bytes(), self.key.read_bytes(), self.ca.read_bytes()


def _node_ca_in_pki_dir(data: dict[str, Any]) -> Path | None:
    pki_dir = data.get("pki_dir")
    return Path(pki_dir) / f"{NODE_CA_STEM}.pem" if pki_dir else None


class ServiceSettings(BaseSettings):
    """Settings every service process has; subclasses set `service_name` and their env prefix."""

    service_name: ClassVar[str] = "service"
    # hide_input_in_errors: a refused configuration must not echo the environment (passwords) into logs.
    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    env: Literal["dev", "prod"] = Field("prod", validation_alias="CONVOY_ENV")
    database_url: SecretStr | None = Field(None, validation_alias="CONVOY_DATABASE_URL")
    pki_dir: Path | None = Field(None, validation_alias="CONVOY_PKI_DIR")
    log_level: str = Field("INFO", validation_alias="CONVOY_LOG_LEVEL")
    listen: str = "127.0.0.1:0"
    metrics_listen: str = ""
    # Plaintext port serving only the gRPC health service ("" disables it): the kubelet's native gRPC
    # probe and container health checks cannot present our mutual-TLS client certificates.
    health_listen: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    # The CA of agents' client certificates, for the ports that accept nodes (scheduler, transfer).
    node_ca: Path | None = Field(default_factory=_node_ca_in_pki_dir)
    # Seconds the health check reports NOT_SERVING before the server stops taking calls, so that
    # load balancers notice; then in-flight calls get `shutdown_grace_seconds` to finish.
    drain_seconds: float = Field(2.0, ge=0)
    shutdown_grace_seconds: float = Field(10.0, ge=0)
    db_pool_size: int = Field(10, ge=1)
    probe_interval_seconds: float = Field(5.0, gt=0)

    @property
    def dev_mode(self) -> bool:
        return self.env == "dev"

    def tls_files(self, name: str | None = None) -> TlsFiles | None:
        """The process's certificate files: explicit paths first, else `<pki_dir>/<name>.pem`."""
        name = name or self.service_name
        if self.tls_cert and self.tls_key and self.tls_ca:
            return TlsFiles(self.tls_cert, self.tls_key, self.tls_ca)
        if self.pki_dir:
            return TlsFiles(
                self.pki_dir / f"{name}.pem", self.pki_dir / f"{name}-key.pem", self.pki_dir / "ca.pem"
            )
        return None

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ValueError("CONVOY_DATABASE_URL is not set")
        return self.database_url.get_secret_value()

    def secrets(self) -> dict[str, str]:
        """Secret values to vet for placeholders; subclasses add theirs."""
        found: dict[str, str] = {}
        if self.database_url is not None:
            password = make_url(self.database_url.get_secret_value()).password
            if password is not None:
                found["CONVOY_DATABASE_URL password"] = str(password)
        return found

    @model_validator(mode="after")
    def _refuse_placeholders_outside_dev(self) -> ServiceSettings:
        if self.dev_mode:
            return self
        weak = [name for name, value in self.secrets().items() if value.lower() in PLACEHOLDER_SECRETS]
        if weak:
            raise ValueError(
                f"placeholder secrets are refused outside dev mode (CONVOY_ENV=dev): {', '.join(weak)}"
            )
        if self.tls_files() is None:
            raise ValueError("TLS is required outside dev mode: set CONVOY_PKI_DIR or the TLS_* paths")
        return self


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def load_settings(settings_type: type[SettingsT]) -> SettingsT:
    """The process's settings, or an exit with one line per problem (never the values themselves)."""
    try:
        return settings_type()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(f"{settings_type.service_name}: refusing to start: {problems}") from None
