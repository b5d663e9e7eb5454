"""JSON shapes of packages, software and deploy profiles, and their conversion to and from protobuf."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from services.gateway.schemas import Input
from services.gateway.schemas_enums import json_enum
from services.kit.timestamps import from_timestamp

__all__ = [
    "PackageFormat",
    "OsFamily",
    "FORMAT_VALUES",
    "FAMILY_VALUES",
    "HealthCheckModel",
    "DeployProfileModel",
    "PackagePublic",
    "PackagePage",
    "PackageUpdate",
    "SoftwarePublic",
    "SoftwarePage",
    "VersionPage",
    "package_out",
    "software_out",
    "profile_to_proto",
]

FORMAT, FAMILY = json_enum(catalog_pb.Format), json_enum(catalog_pb.PackageFamily)
PackageFormat, OsFamily = FORMAT.type, FAMILY.type
FORMAT_VALUES, FAMILY_VALUES = FORMAT.values, FAMILY.values


class HealthCheckModel(Input):
    """Exactly one of `command` (argv, run without a shell) or `http_url` (on the node itself)."""

    command: list[str] | None = Field(default=None, min_length=1, max_length=64)
    http_url: str | None = Field(default=None, max_length=2048)
    timeout_seconds: int = Field(default=0, ge=0, le=600)

    @model_validator(mode="after")
    def _one_probe(self) -> HealthCheckModel:
        if (self.command is None) == (self.http_url is None):
            raise ValueError("give exactly one of command or http_url")
        return self


class DeployProfileModel(Input):
    pre_hook: str = Field(default="", max_length=256, description="script inside the artifact run before")
    post_hook: str = Field(default="", max_length=256, description="script inside the artifact run after")
    health_check: HealthCheckModel | None = None
    restart_service: str = Field(default="", max_length=256, description="systemd unit restarted after")


class PackagePublic(BaseModel):
    id: str
    software_name: str
    version: str
    release: str
    format: PackageFormat | None
    arch: str
    os_families: list[OsFamily]
    description: str
    depends: list[str]
    artifact_sha256: str
    artifact_size: int
    signed: bool
    deploy_profile: DeployProfileModel | None
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None
    referenced_by: list[str]


class PackagePage(BaseModel):
    items: list[PackagePublic]
    next_page_token: str
    total: int


class VersionPage(BaseModel):
    """One software's packages, newest first by the format's own version order."""

    items: list[PackagePublic]
    next_page_token: str


class PackageUpdate(Input):
    description: str | None = Field(default=None, max_length=4096)
    # null removes the profile; leaving the field out keeps it.
    deploy_profile: DeployProfileModel | None = None
    signature: str | None = Field(default=None, max_length=16384)


class SoftwarePublic(BaseModel):
    name: str
    version_count: int
    latest_version: str
    formats: list[PackageFormat]
    updated_at: datetime | None


class SoftwarePage(BaseModel):
    items: list[SoftwarePublic]
    next_page_token: str
    total: int


def _profile_out(profile: catalog_pb.DeployProfile) -> DeployProfileModel:
    check = None
    if profile.HasField("health_check"):
        probe = profile.health_check
        check = HealthCheckModel(
            command=list(probe.command.argv) if probe.HasField("command") else None,
            http_url=probe.http_url if probe.HasField("http_url") else None,
            timeout_seconds=probe.timeout_seconds,
        )
    return DeployProfileModel(
        pre_hook=profile.pre_hook,
        post_hook=profile.post_hook,
        health_check=check,
        restart_service=profile.restart_service,
    )


def profile_to_proto(profile: DeployProfileModel) -> catalog_pb.DeployProfile:
    message = catalog_pb.DeployProfile(
        pre_hook=profile.pre_hook, post_hook=profile.post_hook, restart_service=profile.restart_service
    )
    check = profile.health_check
    if check is not None:
        message.health_check.timeout_seconds = check.timeout_seconds
        if check.command is not None:
            message.health_check.command.argv.extend(check.command)
        else:
            message.health_check.http_url = check.http_url or ""
    return message


def package_out(package: catalog_pb.Package) -> PackagePublic:
    return PackagePublic(
        id=package.id,
        software_name=package.software_name,
        version=package.version,
        release=package.release,
        format=FORMAT.name(package.format),
        arch=package.arch,
        os_families=FAMILY.known(package.package_families),
        description=package.description,
        depends=list(package.depends),
        artifact_sha256=package.artifact_sha256,
        artifact_size=package.artifact_size,
        signed=bool(package.signature),
        deploy_profile=_profile_out(package.deploy_profile) if package.HasField("deploy_profile") else None,
        created_by=package.created_by,
        created_at=from_timestamp(package, "created_at"),
        updated_at=from_timestamp(package, "updated_at"),
        referenced_by=list(package.referenced_by),
    )


def software_out(software: catalog_pb.Software) -> SoftwarePublic:
    return SoftwarePublic(
        name=software.name,
        version_count=software.version_count,
        latest_version=software.latest_version,
        formats=FORMAT.known(software.formats),
        updated_at=from_timestamp(software, "updated_at"),
    )
