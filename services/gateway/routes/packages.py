"""/api/v1/packages and /api/v1/software: upload, list, inspect, change, download and delete packages."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from convoy.catalog.v1 import catalog_pb2 as catalog_pb
from services.gateway.downloads import artifact_response
from services.gateway.package_form import FORM_FIELDS, registration
from services.gateway.schemas_packages import (
    FAMILY_VALUES,
    FORMAT_VALUES,
    OsFamily,
    PackageFormat,
    PackagePage,
    PackagePublic,
    PackageUpdate,
    SoftwarePage,
    VersionPage,
    package_out,
    profile_to_proto,
    software_out,
)
from services.gateway.security import Authed, UpstreamsDep, require_role
from services.gateway.uploads import discard_unregistered, receive_upload
from services.gateway.upstream import Upstreams
from services.kit.context import ADMIN, OPERATOR, USER_ROLES
from services.kit.versions import split_epoch

router = APIRouter(tags=["packages"])

CanRead = Annotated[Authed, Depends(require_role("package.read", *USER_ROLES))]
CanUpload = Annotated[Authed, Depends(require_role("package.create", ADMIN, OPERATOR))]
CanUpdate = Annotated[Authed, Depends(require_role("package.update", ADMIN, OPERATOR))]
CanDelete = Annotated[Authed, Depends(require_role("package.delete", ADMIN, OPERATOR))]
PageSize = Annotated[int, Query(ge=0, le=500)]

_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        **{
                            name: {"type": "string", "description": text}
                            for name, text in FORM_FIELDS.items()
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/api/v1/packages",
    response_model=PackagePublic,
    status_code=201,
    summary="Upload a package (multipart: file plus optional fields); it is inspected and registered",
    openapi_extra=_UPLOAD_DOC,
)
async def upload_package(request: Request, authed: CanUpload, upstreams: UpstreamsDep) -> PackagePublic:
    metadata = authed.info.metadata()
    form = await receive_upload(request, upstreams, metadata)
    assert form.reply is not None
    blob = form.reply.blob
    try:
        create = registration(form.fields, form.reply.inspection, blob.sha256)
        reply = await upstreams.catalog.CreatePackage(create, metadata=metadata, timeout=upstreams.timeout)
    except BaseException:
        # BaseException: a request cancelled while catalog registers (server stopping, client gone) must
        # not leave the blob behind either. Shielded, the delete is not cut short by that cancellation;
        # awaited, a refusal is answered only once the blob is gone.
        if form.reply.created:
            await asyncio.shield(discard_unregistered(upstreams, metadata, blob.sha256))
        raise
    return package_out(reply.package)


@router.get("/api/v1/packages", response_model=PackagePage, summary="List packages")
async def list_packages(
    authed: CanRead,
    upstreams: UpstreamsDep,
    software_name: Annotated[str, Query(max_length=128)] = "",
    format: PackageFormat | None = None,
    os_family: OsFamily | None = None,
    arch: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=128, description="substring of name or description")] = "",
    page_size: PageSize = 50,
    page_token: str = "",
) -> PackagePage:
    request = catalog_pb.ListPackagesRequest(
        page_size=page_size,
        page_token=page_token,
        software_name=software_name,
        format=FORMAT_VALUES[format] if format else 0,
        package_family=FAMILY_VALUES[os_family] if os_family else 0,
        arch=arch,
        query=q,
    )
    reply = await upstreams.catalog.ListPackages(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    items = [package_out(p) for p in reply.packages]
    return PackagePage(items=items, next_page_token=reply.next_page_token, total=reply.total_size)


async def _get(upstreams: Upstreams, authed: Authed, package_id: str) -> catalog_pb.Package:
    reply = await upstreams.catalog.GetPackage(
        catalog_pb.GetPackageRequest(id=package_id),
        metadata=authed.info.metadata(),
        timeout=upstreams.timeout,
    )
    return reply.package


@router.get("/api/v1/packages/{package_id}", response_model=PackagePublic, summary="Get a package")
async def get_package(package_id: str, authed: CanRead, upstreams: UpstreamsDep) -> PackagePublic:
    return package_out(await _get(upstreams, authed, package_id))


@router.patch(
    "/api/v1/packages/{package_id}",
    response_model=PackagePublic,
    summary="Change a package's description, deploy profile or signature",
)
async def update_package(
    package_id: str, body: PackageUpdate, authed: CanUpdate, upstreams: UpstreamsDep
) -> PackagePublic:
    request = catalog_pb.UpdatePackageRequest(id=package_id)
    if body.description is not None:
        request.description = body.description
    if "deploy_profile" in body.model_fields_set:
        if body.deploy_profile is None:
            request.clear_deploy_profile = True
        else:
            request.deploy_profile.CopyFrom(profile_to_proto(body.deploy_profile))
    if body.signature is not None:
        request.signature = body.signature
    reply = await upstreams.catalog.UpdatePackage(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return package_out(reply.package)


@router.delete(
    "/api/v1/packages/{package_id}",
    status_code=204,
    summary="Delete a package (refused while a deployment or policy uses it)",
)
async def delete_package(package_id: str, authed: CanDelete, upstreams: UpstreamsDep) -> Response:
    await upstreams.catalog.DeletePackage(
        catalog_pb.DeletePackageRequest(id=package_id),
        metadata=authed.info.metadata(),
        timeout=upstreams.timeout,
    )
    return Response(status_code=204)


_EXTENSIONS = {catalog_pb.FORMAT_DEB: "deb", catalog_pb.FORMAT_RPM: "rpm", catalog_pb.FORMAT_TAR: "tar"}


def _filename(package: catalog_pb.Package) -> str:
    """The name a download is saved under, as dpkg-name and rpmbuild write it: without the epoch (a ':' is
    not allowed in Windows file names). `content_disposition` makes it safe for the header."""
    _, version = split_epoch(package.version)
    if package.release:
        version = f"{version}-{package.release}"
    extension = _EXTENSIONS.get(package.format, "tar")
    return f"{package.software_name}_{version}_{package.arch}.{extension}"


@router.get(
    "/api/v1/packages/{package_id}/content",
    summary="Download the package's artifact (supports Range and HEAD)",
    response_class=Response,
)
@router.head("/api/v1/packages/{package_id}/content", include_in_schema=False)
async def download_package(
    package_id: str, request: Request, authed: CanRead, upstreams: UpstreamsDep
) -> Response:
    package = await _get(upstreams, authed, package_id)
    return await artifact_response(
        request,
        upstreams,
        authed.info.metadata(),
        sha256=package.artifact_sha256,
        size=package.artifact_size,
        filename=_filename(package),
    )


@router.get(
    "/api/v1/software", response_model=SoftwarePage, summary="Software names with their newest version"
)
async def list_software(
    authed: CanRead,
    upstreams: UpstreamsDep,
    q: Annotated[str, Query(max_length=128)] = "",
    page_size: PageSize = 50,
    page_token: str = "",
) -> SoftwarePage:
    request = catalog_pb.ListSoftwareRequest(page_size=page_size, page_token=page_token, query=q)
    reply = await upstreams.catalog.ListSoftware(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    items = [software_out(s) for s in reply.software]
    return SoftwarePage(items=items, next_page_token=reply.next_page_token, total=reply.total_size)


@router.get(
    "/api/v1/software/{name}/versions",
    response_model=VersionPage,
    summary="One software's packages, newest first by the format's own version order",
)
async def list_versions(
    name: str,
    authed: CanRead,
    upstreams: UpstreamsDep,
    format: PackageFormat | None = None,
    os_family: OsFamily | None = None,
    arch: Annotated[str, Query(max_length=32)] = "",
    page_size: PageSize = 50,
    page_token: str = "",
) -> VersionPage:
    request = catalog_pb.ListVersionsRequest(
        software_name=name,
        page_size=page_size,
        page_token=page_token,
        format=FORMAT_VALUES[format] if format else 0,
        package_family=FAMILY_VALUES[os_family] if os_family else 0,
        arch=arch,
    )
    reply = await upstreams.catalog.ListVersions(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return VersionPage(items=[package_out(p) for p in reply.packages], next_page_token=reply.next_page_token)
