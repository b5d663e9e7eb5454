"""/api/v1/servers and /api/v1/targets/resolve: the fleet (viewers read, operators and admins change)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as sched_pb
from services.gateway.schemas_deployments import RevokeIn
from services.gateway.schemas_inventory import (
    CATEGORY_VALUES,
    FAMILY_VALUES,
    STATUS_VALUES,
    Category,
    InstalledPage,
    PackageFamily,
    ResolvedTargets,
    ServerCreate,
    ServerPage,
    ServerPublic,
    ServerStatus,
    ServerUpdate,
    TargetIn,
    VersionServers,
    distribution_out,
    installed_out,
    server_out,
)
from services.gateway.security import Authed, UpstreamsDep, require_role
from services.kit.context import USER_ROLES, WRITE_ROLES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["servers"])

CanList = Annotated[Authed, Depends(require_role("server.list", *USER_ROLES))]
CanRead = Annotated[Authed, Depends(require_role("server.read", *USER_ROLES))]
CanCreate = Annotated[Authed, Depends(require_role("server.create", *WRITE_ROLES))]
CanUpdate = Annotated[Authed, Depends(require_role("server.update", *WRITE_ROLES))]
CanDelete = Annotated[Authed, Depends(require_role("server.delete", *WRITE_ROLES))]
CanResolve = Annotated[Authed, Depends(require_role("target.resolve", *USER_ROLES))]
CanSurvey = Annotated[Authed, Depends(require_role("software.distribution", *USER_ROLES))]
PageSize = Annotated[int, Query(ge=0, le=500)]


@router.get("/servers", response_model=ServerPage, summary="List servers, ordered by hostname")
async def list_servers(
    authed: CanList,
    upstreams: UpstreamsDep,
    page_size: PageSize = 50,
    page_token: str = "",
    q: Annotated[str, Query(max_length=253, description="substring of hostname or IP address")] = "",
    group_id: str = "",
    status: ServerStatus | None = None,
    os_family: PackageFamily | None = None,
    category: Category | None = None,
    label: Annotated[str, Query(max_length=4096, description="selector, e.g. env=prod,os_family=rpm")] = "",
) -> ServerPage:
    request = inv_pb.ListServersRequest(
        page_size=page_size,
        page_token=page_token,
        query=q,
        group_id=group_id,
        status=STATUS_VALUES[status] if status else 0,
        package_family=FAMILY_VALUES[os_family] if os_family else 0,
        category=CATEGORY_VALUES[category] if category else 0,
        label_selector=label,
    )
    reply = await upstreams.inventory.ListServers(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return ServerPage(
        items=[server_out(s) for s in reply.servers],
        next_page_token=reply.next_page_token,
        total=reply.total_size,
    )


@router.post("/servers", response_model=ServerPublic, status_code=201, summary="Add a server by hand")
async def create_server(body: ServerCreate, authed: CanCreate, upstreams: UpstreamsDep) -> ServerPublic:
    request = inv_pb.CreateServerRequest(
        hostname=body.hostname,
        ip_address=body.ip_address,
        category=CATEGORY_VALUES[body.category],
        labels=body.labels,
        group_ids=body.group_ids,
    )
    reply = await upstreams.inventory.CreateServer(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return server_out(reply.server)


@router.get("/servers/{server_id}", response_model=ServerPublic, summary="Get a server")
async def get_server(server_id: str, authed: CanRead, upstreams: UpstreamsDep) -> ServerPublic:
    reply = await upstreams.inventory.GetServer(
        inv_pb.GetServerRequest(id=server_id), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return server_out(reply.server)


@router.patch("/servers/{server_id}", response_model=ServerPublic, summary="Change a server")
async def update_server(
    server_id: str, body: ServerUpdate, authed: CanUpdate, upstreams: UpstreamsDep
) -> ServerPublic:
    request = inv_pb.UpdateServerRequest(id=server_id)
    if body.hostname is not None:
        request.hostname = body.hostname
    if body.ip_address is not None:
        request.ip_address = body.ip_address
    if body.category is not None:
        request.category = CATEGORY_VALUES[body.category]
    if body.labels is not None:
        request.labels.update(body.labels)
        request.update_labels = True
    reply = await upstreams.inventory.UpdateServer(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return server_out(reply.server)


@router.delete(
    "/servers/{server_id}", status_code=204, summary="Delete a server, its memberships and software"
)
async def delete_server(server_id: str, authed: CanDelete, upstreams: UpstreamsDep) -> Response:
    await upstreams.inventory.DeleteServer(
        inv_pb.DeleteServerRequest(id=server_id), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return Response(status_code=204)


@router.get(
    "/servers/{server_id}/software", response_model=InstalledPage, summary="Software installed on a server"
)
async def list_software(
    server_id: str,
    authed: CanRead,
    upstreams: UpstreamsDep,
    page_size: PageSize = 50,
    page_token: str = "",
    name: Annotated[str, Query(max_length=256, description="exact software name")] = "",
) -> InstalledPage:
    request = inv_pb.ListInstalledRequest(
        server_id=server_id, name=name, page_size=page_size, page_token=page_token
    )
    reply = await upstreams.inventory.ListInstalled(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return InstalledPage(
        items=[installed_out(row.software) for row in reply.installed], next_page_token=reply.next_page_token
    )


@router.get(
    "/software/{name}/distribution",
    response_model=list[VersionServers],
    summary="How many servers run each installed version of a software, newest version first",
)
async def software_distribution(
    name: Annotated[str, Path(max_length=256, description="exact software name")],
    authed: CanSurvey,
    upstreams: UpstreamsDep,
) -> list[VersionServers]:
    installed: list[inv_pb.InstalledSoftware] = []
    token = ""
    while True:
        request = inv_pb.ListInstalledRequest(name=name, page_size=500, page_token=token)
        reply = await upstreams.inventory.ListInstalled(
            request, metadata=authed.info.metadata(), timeout=upstreams.timeout
        )
        installed += [row.software for row in reply.installed]
        token = reply.next_page_token
        if not token:
            return distribution_out(installed)


@router.post(
    "/targets/resolve", response_model=ResolvedTargets, summary="The servers a target means now (not revoked)"
)
async def resolve_targets(body: TargetIn, authed: CanResolve, upstreams: UpstreamsDep) -> ResolvedTargets:
    reply = await upstreams.inventory.ResolveTargets(
        inv_pb.ResolveTargetsRequest(target=body.to_proto()),
        metadata=authed.info.metadata(),
        timeout=upstreams.timeout,
    )
    return ResolvedTargets(items=[server_out(s) for s in reply.servers], total=len(reply.servers))


CanRevoke = Annotated[Authed, Depends(require_role("server.revoke", *WRITE_ROLES))]


@router.post(
    "/servers/{server_id}/revoke",
    status_code=204,
    summary="Revoke the node's certificate: every later call of its agent is refused, its stream is closed",
)
async def revoke_server(
    server_id: str, authed: CanRevoke, upstreams: UpstreamsDep, body: RevokeIn | None = None
) -> Response:
    request = sched_pb.RevokeServerRequest(server_id=server_id, reason=body.reason if body else "")
    await upstreams.scheduler.RevokeServer(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return Response(status_code=204)
