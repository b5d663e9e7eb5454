"""Tables of the inventory schema: servers, groups, memberships and installed software."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "SCHEMA",
    "CATEGORIES",
    "STATUSES",
    "PENDING",
    "ONLINE",
    "OFFLINE",
    "REVOKED",
    "PACKAGE_FAMILIES",
    "SOURCES",
    "AGENT_REPORT",
    "DEPLOYMENT",
    "Server",
    "Group",
    "Membership",
    "Installed",
]

SCHEMA = "inventory"

CATEGORIES = ("web", "database", "data-processing", "container", "general")
PENDING, ONLINE, OFFLINE, REVOKED = "pending", "online", "offline", "revoked"
STATUSES = (PENDING, ONLINE, OFFLINE, REVOKED)
PACKAGE_FAMILIES = ("deb", "rpm")
AGENT_REPORT, DEPLOYMENT = "agent_report", "deployment"
SOURCES = (AGENT_REPORT, DEPLOYMENT)


def _utc(**kwargs: object) -> object:
    """A timezone-aware timestamp column."""
    return Field(sa_type=DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


class Server(SQLModel, table=True):
    """One node; `package_family` is "" until an agent has reported its facts."""

    __tablename__ = "servers"
    __table_args__ = (
        # The listing order and its keyset cursor.
        Index("servers_hostname_id", "hostname", "id"),
        # One live server per address; a revoked record keeps its address without blocking a re-enrolment.
        Index("servers_ip_live", "ip_address", unique=True, postgresql_where=text("status <> 'revoked'")),
        Index("servers_status", "status"),
        Index("servers_category", "category"),
        Index("servers_package_family", "package_family"),
        Index(
            "servers_labels", "labels", postgresql_using="gin", postgresql_ops={"labels": "jsonb_path_ops"}
        ),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    hostname: str = Field(default="", max_length=253)
    ip_address: str = Field(max_length=64)
    category: str = Field(max_length=32)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    os_id: str = Field(default="", max_length=64)
    id_like: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String(64)), nullable=False))
    version_id: str = Field(default="", max_length=64)
    pretty_name: str = Field(default="", max_length=256)
    package_family: str = Field(default="", max_length=8)
    arch: str = Field(default="", max_length=32)
    kernel: str = Field(default="", max_length=128)
    agent_version: str = Field(default="", max_length=64)
    status: str = Field(default=PENDING, max_length=16)
    last_seen: datetime | None = _utc(default=None, nullable=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Group(SQLModel, table=True):
    """A named set of servers; the maintenance window is stored for later enforcement."""

    __tablename__ = "groups"
    __table_args__ = (
        # Names are unique regardless of case, and the listing is ordered by this key.
        Index("groups_name_lower", func.lower(text("name")), unique=True),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=64)
    description: str = Field(default="", max_length=1024)
    category: str | None = Field(default=None, max_length=32, nullable=True)
    window_cron: str | None = Field(default=None, max_length=128, nullable=True)
    window_duration_seconds: int | None = Field(default=None, nullable=True)
    window_timezone: str | None = Field(default=None, max_length=64, nullable=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    __table_args__ = {"schema": SCHEMA}

    group_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.groups.id", ondelete="CASCADE", primary_key=True)
    server_id: uuid.UUID = Field(
        foreign_key=f"{SCHEMA}.servers.id", ondelete="CASCADE", primary_key=True, index=True
    )
    added_at: datetime = _utc()


class Installed(SQLModel, table=True):
    """One piece of managed software on one server, as last reported."""

    __tablename__ = "installed"
    __table_args__ = {"schema": SCHEMA}

    server_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.servers.id", ondelete="CASCADE", primary_key=True)
    name: str = Field(primary_key=True, max_length=256, index=True)
    version: str = Field(max_length=128)
    package_family: str = Field(default="", max_length=8)
    observed_at: datetime = _utc()
    source: str = Field(max_length=16)
