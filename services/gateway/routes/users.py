"""/api/v1/users: user administration (admin; anyone may read their own record)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from convoy.auth.v1 import auth_pb2 as auth_pb
from services.gateway.schemas import ROLE_VALUES, Role, UserCreate, UserPage, UserPublic, UserUpdate, user_out
from services.gateway.security import Authed, CurrentUser, UpstreamsDep, require_role
from services.kit.context import ADMIN

router = APIRouter(prefix="/api/v1/users", tags=["users"])

CanList = Annotated[Authed, Depends(require_role("user.list", ADMIN))]
CanCreate = Annotated[Authed, Depends(require_role("user.create", ADMIN))]
CanUpdate = Annotated[Authed, Depends(require_role("user.update", ADMIN))]
CanDelete = Annotated[Authed, Depends(require_role("user.delete", ADMIN))]


@router.get("", response_model=UserPage, summary="List users")
async def list_users(
    authed: CanList,
    upstreams: UpstreamsDep,
    page_size: Annotated[int, Query(ge=0, le=500)] = 50,
    page_token: str = "",
    q: Annotated[str, Query(max_length=64, description="substring of username or display name")] = "",
    role: Role | None = None,
) -> UserPage:
    request = auth_pb.ListUsersRequest(
        page_size=page_size, page_token=page_token, query=q, role=ROLE_VALUES[role] if role else 0
    )
    reply = await upstreams.auth.ListUsers(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return UserPage(
        items=[user_out(u) for u in reply.users],
        next_page_token=reply.next_page_token,
        total=reply.total_size,
    )


@router.post("", response_model=UserPublic, status_code=201, summary="Create a user")
async def create_user(body: UserCreate, authed: CanCreate, upstreams: UpstreamsDep) -> UserPublic:
    request = auth_pb.CreateUserRequest(
        username=body.username,
        display_name=body.display_name,
        role=ROLE_VALUES[body.role],
        password=body.password,
    )
    reply = await upstreams.auth.CreateUser(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return user_out(reply.user)


@router.get("/{user_id}", response_model=UserPublic, summary="Get a user (admins, or the user itself)")
async def get_user(user_id: str, authed: CurrentUser, upstreams: UpstreamsDep) -> UserPublic:
    request = auth_pb.GetUserRequest(id=user_id)
    reply = await upstreams.auth.GetUser(request, metadata=authed.info.metadata(), timeout=upstreams.timeout)
    return user_out(reply.user)


@router.patch(
    "/{user_id}", response_model=UserPublic, summary="Change a user's name, role, state or password"
)
async def update_user(
    user_id: str, body: UserUpdate, authed: CanUpdate, upstreams: UpstreamsDep
) -> UserPublic:
    request = auth_pb.UpdateUserRequest(id=user_id)
    if body.display_name is not None:
        request.display_name = body.display_name
    if body.role is not None:
        request.role = ROLE_VALUES[body.role]
    if body.disabled is not None:
        request.disabled = body.disabled
    if body.password is not None:
        request.password = body.password
    reply = await upstreams.auth.UpdateUser(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return user_out(reply.user)


@router.delete("/{user_id}", status_code=204, summary="Delete a user (their sessions end)")
async def delete_user(user_id: str, authed: CanDelete, upstreams: UpstreamsDep) -> Response:
    request = auth_pb.DeleteUserRequest(id=user_id)
    await upstreams.auth.DeleteUser(request, metadata=authed.info.metadata(), timeout=upstreams.timeout)
    return Response(status_code=204)
