"""gRPC servicer of the catalog: proto messages in, use cases called, proto messages out."""

from __future__ import annotations

from convoy.catalog.v1 import catalog_pb2 as pb
from convoy.catalog.v1 import catalog_pb2_grpc as pb_grpc
from services.catalog.listing import CatalogQueries, PackageFilter, SoftwareSummary
from services.catalog.profiles import DeployProfileSpec, HealthCheckSpec, profile_from_json
from services.catalog.service import PackageChanges, PackageDraft, PackageUseCases, PackageView
from services.kit.timestamps import to_timestamp

__all__ = ["CatalogServicer", "FORMAT_TO_PROTO", "FAMILY_TO_PROTO"]

FORMAT_TO_PROTO = {
    "deb": pb.FORMAT_DEB,
    "rpm": pb.FORMAT_RPM,
    "tar": pb.FORMAT_TAR,
    "container": pb.FORMAT_CONTAINER,
}
FORMAT_FROM_PROTO = {value: name for name, value in FORMAT_TO_PROTO.items()}
FAMILY_TO_PROTO = {"deb": pb.PACKAGE_FAMILY_DEB, "rpm": pb.PACKAGE_FAMILY_RPM}
FAMILY_FROM_PROTO = {value: name for name, value in FAMILY_TO_PROTO.items()}


def _format(value: int) -> str:
    # An unknown enum number becomes "?" so the use case names the allowed values; unset becomes "".
    return FORMAT_FROM_PROTO.get(value, "?") if value else ""


def _family(value: int) -> str:
    return FAMILY_FROM_PROTO.get(value, "?") if value else ""


def profile_from_proto(profile: pb.DeployProfile) -> DeployProfileSpec:
    health = None
    if profile.HasField("health_check"):
        check = profile.health_check
        health = HealthCheckSpec(
            command=tuple(check.command.argv) if check.HasField("command") else (),
            http_url=check.http_url,
            timeout_seconds=check.timeout_seconds,
        )
    return DeployProfileSpec(
        pre_hook=profile.pre_hook,
        post_hook=profile.post_hook,
        health_check=health,
        restart_service=profile.restart_service,
    )


def profile_to_proto(spec: DeployProfileSpec) -> pb.DeployProfile:
    profile = pb.DeployProfile(
        pre_hook=spec.pre_hook, post_hook=spec.post_hook, restart_service=spec.restart_service
    )
    check = spec.health_check
    if check is not None:
        profile.health_check.timeout_seconds = check.timeout_seconds
        if check.command:
            profile.health_check.command.argv.extend(check.command)
        else:
            profile.health_check.http_url = check.http_url
    return profile


def package_to_proto(view: PackageView) -> pb.Package:
    package = view.package
    profile = profile_from_json(package.deploy_profile)
    return pb.Package(
        id=str(package.id),
        software_name=package.software_name,
        version=package.version,
        release=package.release or None,
        format=FORMAT_TO_PROTO.get(package.format, pb.FORMAT_UNSPECIFIED),
        arch=package.arch,
        package_families=[FAMILY_TO_PROTO[family] for family in package.package_families],
        description=package.description,
        depends=package.depends,
        artifact_sha256=package.artifact_sha256,
        artifact_size=package.artifact_size,
        signature=package.signature,
        deploy_profile=profile_to_proto(profile) if profile else None,
        created_at=to_timestamp(package.created_at),
        created_by=package.created_by,
        updated_at=to_timestamp(package.updated_at),
        referenced_by=view.referenced_by,
    )


def software_to_proto(summary: SoftwareSummary) -> pb.Software:
    return pb.Software(
        name=summary.name,
        version_count=summary.version_count,
        latest_version=summary.latest_version,
        formats=[FORMAT_TO_PROTO[name] for name in summary.formats],
        updated_at=to_timestamp(summary.updated_at),
    )


def _draft(request: pb.CreatePackageRequest) -> PackageDraft:
    return PackageDraft(
        software_name=request.software_name,
        version=request.version,
        release=request.release,
        format=_format(request.format),
        arch=request.arch,
        package_families=tuple(_family(value) for value in request.package_families),
        description=request.description,
        depends=tuple(request.depends),
        artifact_sha256=request.artifact_sha256,
        signature=request.signature,
        deploy_profile=profile_from_proto(request.deploy_profile)
        if request.HasField("deploy_profile")
        else None,
    )


def _changes(request: pb.UpdatePackageRequest) -> PackageChanges:
    return PackageChanges(
        description=request.description if request.HasField("description") else None,
        deploy_profile=profile_from_proto(request.deploy_profile)
        if request.HasField("deploy_profile")
        else None,
        clear_deploy_profile=request.clear_deploy_profile,
        signature=request.signature if request.HasField("signature") else None,
    )


class CatalogServicer(pb_grpc.CatalogServiceServicer):
    def __init__(self, packages: PackageUseCases, queries: CatalogQueries) -> None:
        self._packages, self._queries = packages, queries

    async def CreatePackage(
        self, request: pb.CreatePackageRequest, context: object
    ) -> pb.CreatePackageResponse:
        view = await self._packages.create(_draft(request))
        return pb.CreatePackageResponse(package=package_to_proto(view))

    async def GetPackage(self, request: pb.GetPackageRequest, context: object) -> pb.GetPackageResponse:
        return pb.GetPackageResponse(package=package_to_proto(await self._queries.get(request.id)))

    async def ListPackages(self, request: pb.ListPackagesRequest, context: object) -> pb.ListPackagesResponse:
        where = PackageFilter(
            software_name=request.software_name,
            format=_format(request.format),
            package_family=_family(request.package_family),
            arch=request.arch,
            query=request.query,
        )
        page = await self._queries.list(where, size=request.page_size, token=request.page_token)
        return pb.ListPackagesResponse(
            packages=[package_to_proto(view) for view in page.packages],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdatePackage(
        self, request: pb.UpdatePackageRequest, context: object
    ) -> pb.UpdatePackageResponse:
        view = await self._packages.update(request.id, _changes(request))
        return pb.UpdatePackageResponse(package=package_to_proto(view))

    async def DeletePackage(
        self, request: pb.DeletePackageRequest, context: object
    ) -> pb.DeletePackageResponse:
        await self._packages.delete(request.id)
        return pb.DeletePackageResponse()

    async def AddReference(self, request: pb.AddReferenceRequest, context: object) -> pb.AddReferenceResponse:
        view = await self._packages.add_reference(request.package_id, request.holder)
        return pb.AddReferenceResponse(package=package_to_proto(view))

    async def RemoveReference(
        self, request: pb.RemoveReferenceRequest, context: object
    ) -> pb.RemoveReferenceResponse:
        await self._packages.remove_reference(request.package_id, request.holder)
        return pb.RemoveReferenceResponse()

    async def ListVersions(self, request: pb.ListVersionsRequest, context: object) -> pb.ListVersionsResponse:
        # The arch filter means "installable on": the arch itself or noarch, as for GetLatest.
        where = PackageFilter(
            software_name=request.software_name,
            format=_format(request.format),
            package_family=_family(request.package_family),
            installable_arch=request.arch,
        )
        page = await self._queries.list_versions(where, size=request.page_size, token=request.page_token)
        return pb.ListVersionsResponse(
            packages=[package_to_proto(view) for view in page.packages], next_page_token=page.next_page_token
        )

    async def GetLatest(self, request: pb.GetLatestRequest, context: object) -> pb.GetLatestResponse:
        view = await self._queries.latest(
            request.software_name, _family(request.package_family), request.arch, _format(request.format)
        )
        return pb.GetLatestResponse(package=package_to_proto(view))

    async def ListSoftware(self, request: pb.ListSoftwareRequest, context: object) -> pb.ListSoftwareResponse:
        page = await self._queries.list_software(
            request.query, size=request.page_size, token=request.page_token
        )
        return pb.ListSoftwareResponse(
            software=[software_to_proto(summary) for summary in page.software],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )
