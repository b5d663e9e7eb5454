"""/api/v1/groups: server groups and their members (viewers read, operators and admins change)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from services.gateway.schemas_inventory import (
    CATEGORY_VALUES,
    Category,
    GroupCreate,
    GroupPage,
    GroupPublic,
    GroupUpdate,
    MembersAdded,
    MembersIn,
    ServerPage,
    group_out,
    server_out,
    window_in,
)
from services.gateway.security import Authed, UpstreamsDep, require_role
from services.kit.context import USER_ROLES, WRITE_ROLES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/groups", tags=["groups"])

CanList = Annotated[Authed, Depends(require_role("group.list", *USER_ROLES))]
CanRead = Annotated[Authed, Depends(require_role("group.read", *USER_ROLES))]
CanCreate = Annotated[Authed, Depends(require_role("group.create", *WRITE_ROLES))]
CanUpdate = Annotated[Authed, Depends(require_role("group.update", *WRITE_ROLES))]
CanDelete = Annotated[Authed, Depends(require_role("group.delete", *WRITE_ROLES))]
CanAdd = Annotated[Authed, Depends(require_role("group.member.add", *WRITE_ROLES))]
CanRemove = Annotated[Authed, Depends(require_role("group.member.remove", *WRITE_ROLES))]
PageSize = Annotated[int, Query(ge=0, le=500)]


@router.get("", response_model=GroupPage, summary="List groups, ordered by name")
async def list_groups(
    authed: CanList,
    upstreams: UpstreamsDep,
    page_size: PageSize = 50,
    page_token: str = "",
    q: Annotated[str, Query(max_length=256, description="substring of name or description")] = "",
    category: Category | None = None,
) -> GroupPage:
    request = inv_pb.ListGroupsRequest(
        page_size=page_size,
        page_token=page_token,
        query=q,
        category=CATEGORY_VALUES[category] if category else 0,
    )
    reply = await upstreams.inventory.ListGroups(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return GroupPage(
        items=[group_out(g) for g in reply.groups],
        next_page_token=reply.next_page_token,
        total=reply.total_size,
    )


@router.post("", response_model=GroupPublic, status_code=201, summary="Create a group")
async def create_group(body: GroupCreate, authed: CanCreate, upstreams: UpstreamsDep) -> GroupPublic:
    request = inv_pb.CreateGroupRequest(
        name=body.name,
        description=body.description,
        category=CATEGORY_VALUES[body.category] if body.category else 0,
        maintenance_window=window_in(body.maintenance_window) if body.maintenance_window else None,
    )
    reply = await upstreams.inventory.CreateGroup(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return group_out(reply.group)


@router.get("/{group_id}", response_model=GroupPublic, summary="Get a group")
async def get_group(group_id: str, authed: CanRead, upstreams: UpstreamsDep) -> GroupPublic:
    reply = await upstreams.inventory.GetGroup(
        inv_pb.GetGroupRequest(id=group_id), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return group_out(reply.group)


@router.patch("/{group_id}", response_model=GroupPublic, summary="Change a group")
async def update_group(
    group_id: str, body: GroupUpdate, authed: CanUpdate, upstreams: UpstreamsDep
) -> GroupPublic:
    request = inv_pb.UpdateGroupRequest(id=group_id)
    given = body.model_fields_set
    if body.name is not None:
        request.name = body.name
    if body.description is not None:
        request.description = body.description
    if "category" in given:
        # null removes the category: the field is present with the UNSPECIFIED value.
        request.category = CATEGORY_VALUES[body.category] if body.category else 0
    if body.maintenance_window is not None:
        request.maintenance_window.CopyFrom(window_in(body.maintenance_window))
    elif "maintenance_window" in given:
        request.clear_maintenance_window = True
    reply = await upstreams.inventory.UpdateGroup(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return group_out(reply.group)


@router.delete("/{group_id}", status_code=204, summary="Delete a group (its servers stay)")
async def delete_group(group_id: str, authed: CanDelete, upstreams: UpstreamsDep) -> Response:
    await upstreams.inventory.DeleteGroup(
        inv_pb.DeleteGroupRequest(id=group_id), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return Response(status_code=204)


@router.get("/{group_id}/members", response_model=ServerPage, summary="The servers of a group")
async def list_members(
    group_id: str, authed: CanRead, upstreams: UpstreamsDep, page_size: PageSize = 50, page_token: str = ""
) -> ServerPage:
    request = inv_pb.ListGroupMembersRequest(group_id=group_id, page_size=page_size, page_token=page_token)
    reply = await upstreams.inventory.ListGroupMembers(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return ServerPage(
        items=[server_out(s) for s in reply.servers],
        next_page_token=reply.next_page_token,
        total=reply.total_size,
    )


@router.post(
    "/{group_id}/members", response_model=MembersAdded, summary="Add servers (members already in are skipped)"
)
async def add_members(
    group_id: str, body: MembersIn, authed: CanAdd, upstreams: UpstreamsDep
) -> MembersAdded:
    request = inv_pb.AddGroupMembersRequest(group_id=group_id, server_ids=body.server_ids)
    reply = await upstreams.inventory.AddGroupMembers(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return MembersAdded(added=reply.added)


@router.delete("/{group_id}/members/{server_id}", status_code=204, summary="Remove a server from a group")
async def remove_member(
    group_id: str, server_id: str, authed: CanRemove, upstreams: UpstreamsDep
) -> Response:
    request = inv_pb.RemoveGroupMembersRequest(group_id=group_id, server_ids=[server_id])
    await upstreams.inventory.RemoveGroupMembers(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return Response(status_code=204)
