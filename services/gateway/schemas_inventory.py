"""JSON shapes of the servers, groups and targets API, and their conversion from inventory messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from services.gateway.schemas import Input
from services.gateway.schemas_enums import json_enum
from services.kit.timestamps import from_timestamp
from services.kit.versions import VersionKey

__all__ = [
    "Category",
    "ServerStatus",
    "PackageFamily",
    "InstalledSource",
    "CATEGORY_VALUES",
    "STATUS_VALUES",
    "FAMILY_VALUES",
    "ServerCreate",
    "ServerUpdate",
    "OsFactsPublic",
    "ServerPublic",
    "ServerPage",
    "MaintenanceWindowIn",
    "MaintenanceWindowPublic",
    "GroupCreate",
    "GroupUpdate",
    "GroupPublic",
    "GroupPage",
    "MembersIn",
    "MembersAdded",
    "InstalledPublic",
    "InstalledPage",
    "VersionServers",
    "TargetIn",
    "ResolvedTargets",
    "server_out",
    "group_out",
    "installed_out",
    "distribution_out",
    "window_in",
]

# Categories are spelt with hyphens ("data-processing"), as inventory stores them.
CATEGORY = json_enum(inv_pb.Category, separator="-")
STATUS = json_enum(inv_pb.ServerStatus)
FAMILY = json_enum(inv_pb.PackageFamily)
SOURCE = json_enum(inv_pb.InstalledSource)
Category, ServerStatus = CATEGORY.type, STATUS.type
PackageFamily, InstalledSource = FAMILY.type, SOURCE.type
CATEGORY_VALUES, STATUS_VALUES, FAMILY_VALUES = CATEGORY.values, STATUS.values, FAMILY.values


def _unicode_keys(labels: dict[str, str] | None) -> dict[str, str] | None:
    """pydantic checks the values of a dict but lets a key through that JSON wrote as a lone surrogate
    ("\\ud800"), which no protobuf string can carry."""
    for key in labels or {}:
        try:
            key.encode()
        except UnicodeEncodeError as exc:
            raise ValueError("label keys must be valid Unicode text") from exc
    return labels


class ServerCreate(Input):
    hostname: str = Field("", max_length=253)
    ip_address: str = Field(min_length=1, max_length=64)
    category: Category
    labels: dict[str, str] = Field(default_factory=dict)
    group_ids: list[str] = Field(default_factory=list, max_length=1000)

    _labels = field_validator("labels")(_unicode_keys)


class ServerUpdate(Input):
    """Fields left out stay as they are; `labels` replaces all labels ({} removes them)."""

    hostname: str | None = Field(None, max_length=253)
    ip_address: str | None = Field(None, min_length=1, max_length=64)
    category: Category | None = None
    labels: dict[str, str] | None = None

    _labels = field_validator("labels")(_unicode_keys)


class OsFactsPublic(BaseModel):
    os_id: str
    id_like: list[str]
    version_id: str
    pretty_name: str
    package_family: PackageFamily | None
    arch: str
    kernel: str


class ServerPublic(BaseModel):
    id: str
    hostname: str
    ip_address: str
    category: Category | None
    labels: dict[str, str]
    os: OsFactsPublic
    agent_version: str
    status: ServerStatus | None
    last_seen: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    group_ids: list[str]


class ServerPage(BaseModel):
    items: list[ServerPublic]
    next_page_token: str
    total: int


class MaintenanceWindowIn(Input):
    cron: str = Field(min_length=1, max_length=128, description="five-field cron expression")
    duration_seconds: int = Field(ge=60, le=86400)
    timezone: str = Field(min_length=1, max_length=64, description="IANA zone, e.g. Asia/Shanghai")


class MaintenanceWindowPublic(BaseModel):
    cron: str
    duration_seconds: int
    timezone: str


class GroupCreate(Input):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=1024)
    category: Category | None = None
    maintenance_window: MaintenanceWindowIn | None = None


class GroupUpdate(Input):
    """Fields left out stay as they are; an explicit null category or maintenance_window removes it."""

    name: str | None = Field(None, min_length=1, max_length=64)
    description: str | None = Field(None, max_length=1024)
    category: Category | None = None
    maintenance_window: MaintenanceWindowIn | None = None


class GroupPublic(BaseModel):
    id: str
    name: str
    description: str
    category: Category | None
    maintenance_window: MaintenanceWindowPublic | None
    member_count: int
    created_at: datetime | None
    updated_at: datetime | None


class GroupPage(BaseModel):
    items: list[GroupPublic]
    next_page_token: str
    total: int


class MembersIn(Input):
    server_ids: list[str] = Field(min_length=1, max_length=1000)


class MembersAdded(BaseModel):
    added: int


class InstalledPublic(BaseModel):
    name: str
    version: str
    package_family: PackageFamily | None
    observed_at: datetime | None
    source: InstalledSource | None


class InstalledPage(BaseModel):
    items: list[InstalledPublic]
    next_page_token: str


class VersionServers(BaseModel):
    """How many servers run one version of a software."""

    version: str
    servers: int


class TargetIn(Input):
    """Exactly one of the four."""

    server_id: str | None = None
    group_id: str | None = None
    all: bool | None = None
    selector: str | None = Field(None, max_length=4096)

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetIn:
        given = [
            name for name in ("server_id", "group_id", "all", "selector") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of server_id, group_id, all or selector")
        if self.all is False:
            raise ValueError("all must be true when it is given")
        return self

    def to_proto(self) -> inv_pb.Target:
        if self.server_id is not None:
            return inv_pb.Target(server_id=self.server_id)
        if self.group_id is not None:
            return inv_pb.Target(group_id=self.group_id)
        if self.selector is not None:
            return inv_pb.Target(selector=self.selector)
        return inv_pb.Target(all=True)


class ResolvedTargets(BaseModel):
    items: list[ServerPublic]
    total: int


def server_out(server: inv_pb.Server) -> ServerPublic:
    os = server.os
    return ServerPublic(
        id=server.id,
        hostname=server.hostname,
        ip_address=server.ip_address,
        category=CATEGORY.name(server.category),
        labels=dict(server.labels),
        os=OsFactsPublic(
            os_id=os.os_id,
            id_like=list(os.id_like),
            version_id=os.version_id,
            pretty_name=os.pretty_name,
            package_family=FAMILY.name(os.package_family),
            arch=os.arch,
            kernel=os.kernel,
        ),
        agent_version=server.agent_version,
        status=STATUS.name(server.status),
        last_seen=from_timestamp(server, "last_seen"),
        created_at=from_timestamp(server, "created_at"),
        updated_at=from_timestamp(server, "updated_at"),
        group_ids=list(server.group_ids),
    )


def group_out(group: inv_pb.Group) -> GroupPublic:
    window = group.maintenance_window if group.HasField("maintenance_window") else None
    return GroupPublic(
        id=group.id,
        name=group.name,
        description=group.description,
        category=CATEGORY.name(group.category),
        maintenance_window=(
            MaintenanceWindowPublic(
                cron=window.cron, duration_seconds=window.duration_seconds, timezone=window.timezone
            )
            if window is not None
            else None
        ),
        member_count=group.member_count,
        created_at=from_timestamp(group, "created_at"),
        updated_at=from_timestamp(group, "updated_at"),
    )


def installed_out(software: inv_pb.InstalledSoftware) -> InstalledPublic:
    return InstalledPublic(
        name=software.name,
        version=software.version,
        package_family=FAMILY.name(software.package_family),
        observed_at=from_timestamp(software, "observed_at"),
        source=SOURCE.name(software.source),
    )


def _installed_key(software: inv_pb.InstalledSoftware) -> VersionKey:
    """The version as the node's package database wrote it: rpm's "V-R", dpkg's full version."""
    if software.package_family == inv_pb.PACKAGE_FAMILY_RPM:
        version, dash, release = software.version.rpartition("-")
        return VersionKey("rpm", version, release) if dash else VersionKey("rpm", software.version, "")
    return VersionKey("deb", software.version, "")


def distribution_out(installed: Iterable[inv_pb.InstalledSoftware]) -> list[VersionServers]:
    """Servers per installed version, newest first by the package format's own order (rpm's rules
    between a deb and an rpm version); versions are first put in text order so ties stay stable."""
    counts: Counter[str] = Counter()
    keys: dict[str, VersionKey] = {}
    for software in installed:
        counts[software.version] += 1
        keys.setdefault(software.version, _installed_key(software))
    ordered = sorted(sorted(counts), key=keys.__getitem__, reverse=True)
    return [VersionServers(version=version, servers=counts[version]) for version in ordered]


def window_in(window: MaintenanceWindowIn) -> inv_pb.MaintenanceWindow:
    return inv_pb.MaintenanceWindow(
        cron=window.cron, duration_seconds=window.duration_seconds, timezone=window.timezone
    )
