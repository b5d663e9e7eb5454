"""Settings of the transfer process (CONVOY_TRANSFER_* plus the shared CONVOY_* variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.runtime import AuthClientSettings

__all__ = ["TransferSettings", "KIB", "MIB", "GIB"]

KIB, MIB, GIB = 1024, 1024 * 1024, 1024 * 1024 * 1024


class TransferSettings(AuthClientSettings):
    service_name = "transfer"
    model_config = SettingsConfigDict(env_prefix="CONVOY_TRANSFER_", extra="ignore", frozen=True)

    listen: str = "127.0.0.1:50055"
    storage_root: Path = Path("var/artifacts")
    max_upload_bytes: int = Field(4 * GIB, ge=1)
    # 1 MiB chunks measured fastest over gRPC here; 64 KiB chunks double the CPU per byte.
    chunk_bytes: int = Field(MIB, ge=64 * KIB, le=4 * MIB)
    max_archive_members: int = Field(10_000, ge=1)
    # A tar may declare at most this many times its own size in contents (stops decompression bombs).
    max_expansion_ratio: int = Field(100, ge=1)
    # Bound on each tool inspection runs (`rpm -qp`, `zstd` for a deb's control part).
    inspect_timeout_seconds: float = Field(60.0, gt=0)
    # Temp files older than this in the staging dir were left by a crash and are removed at startup.
    stale_upload_seconds: int = Field(3600, ge=60)
    # How often staging is swept while the service runs.
    sweep_interval_seconds: float = Field(900.0, gt=0)
    # How long auth's answer about a node (revoked, re-enrolled) is reused for its next downloads.
    node_status_seconds: float = Field(5.0, ge=0, le=60)
