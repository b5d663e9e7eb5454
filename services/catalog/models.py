"""Tables of the catalog schema: packages and the holders that keep them from being deleted."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

__all__ = ["SCHEMA", "IDENTITY_CONSTRAINT", "Package", "PackageReference"]

SCHEMA = "catalog"
# One package per software name, version, release, format and arch.
IDENTITY_CONSTRAINT = "packages_identity_key"


def _utc(**kwargs: object) -> Any:
    """A timezone-aware timestamp column."""
    return Field(sa_type=DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


class Package(SQLModel, table=True):
    __tablename__ = "packages"
    __table_args__ = (
        UniqueConstraint("software_name", "version", "release", "format", "arch", name=IDENTITY_CONSTRAINT),
        # The listing's keyset order.
        Index("packages_listing", "software_name", "created_at", "id"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    software_name: str = Field(max_length=128)
    version: str = Field(max_length=128)
    # '' when the version carries no separate packaging release.
    release: str = Field(default="", max_length=128)
    format: str = Field(max_length=16)
    arch: str = Field(max_length=32)
    package_families: list[str] = Field(sa_column=Column(ARRAY(String(8)), nullable=False))
    description: str = ""
    depends: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    artifact_sha256: str = Field(max_length=64, index=True)
    artifact_size: int = Field(sa_type=BigInteger)
    signature: str = ""
    deploy_profile: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONB(none_as_null=True), nullable=True)
    )
    created_by: str = Field(max_length=200)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class PackageReference(SQLModel, table=True):
    """A holder (deployment, sync policy) that needs the package; the package cannot go while it exists."""

    __tablename__ = "package_references"
    __table_args__ = {"schema": SCHEMA}

    package_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.packages.id", ondelete="RESTRICT", primary_key=True)
    holder: str = Field(max_length=200, primary_key=True)
    created_at: datetime = _utc()
