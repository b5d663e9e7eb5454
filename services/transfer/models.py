"""Tables of the transfer schema: stored blobs and the holders that reference them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime
from sqlmodel import Field, SQLModel

__all__ = ["SCHEMA", "FORMATS", "Blob", "BlobReference"]

SCHEMA = "transfer"
FORMATS = ("deb", "rpm", "tar", "container")


def _utc(**kwargs: object) -> object:
    """A timezone-aware timestamp column."""
    return Field(sa_type=DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


class Blob(SQLModel, table=True):
    """One stored artifact, addressed by the sha256 of its bytes."""

    __tablename__ = "blobs"
    __table_args__ = {"schema": SCHEMA}

    sha256: str = Field(primary_key=True, max_length=64)
    size: int = Field(sa_column=Column(BigInteger(), nullable=False))
    format: str = Field(max_length=16)
    filename: str = Field(default="", max_length=255)
    content_type: str = Field(default="", max_length=255)
    created_at: datetime = _utc()


class BlobReference(SQLModel, table=True):
    """A holder (e.g. a catalog package) that needs the blob; a referenced blob cannot be deleted."""

    __tablename__ = "blob_references"
    __table_args__ = {"schema": SCHEMA}

    sha256: str = Field(primary_key=True, max_length=64, foreign_key=f"{SCHEMA}.blobs.sha256")
    holder: str = Field(primary_key=True, max_length=200)
    created_at: datetime = _utc()
