"""/api/v1/auth: login, token refresh, logout, the current user, password change."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from convoy.auth.v1 import auth_pb2 as auth_pb
from services.gateway.schemas import (
    LoginIn,
    PasswordChangeIn,
    RefreshIn,
    TokenOut,
    UserPublic,
    token_out,
    user_out,
)
from services.gateway.security import CallerDep, CurrentUser, UpstreamsDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login", response_model=TokenOut, summary="Exchange username and password for tokens")
async def login(body: LoginIn, upstreams: UpstreamsDep, caller: CallerDep) -> TokenOut:
    request = auth_pb.LoginRequest(username=body.username, password=body.password)
    reply = await upstreams.auth.Login(request, metadata=caller.metadata(), timeout=upstreams.timeout)
    return token_out(reply.tokens, reply.user, datetime.now(UTC))


@router.post("/refresh", response_model=TokenOut, summary="Rotate a refresh token")
async def refresh(body: RefreshIn, upstreams: UpstreamsDep, caller: CallerDep) -> TokenOut:
    request = auth_pb.RefreshRequest(refresh_token=body.refresh_token)
    reply = await upstreams.auth.Refresh(request, metadata=caller.metadata(), timeout=upstreams.timeout)
    return token_out(reply.tokens, reply.user, datetime.now(UTC))


@router.post("/logout", status_code=204, summary="End the session of a refresh token")
async def logout(body: RefreshIn, upstreams: UpstreamsDep, caller: CallerDep) -> Response:
    request = auth_pb.LogoutRequest(refresh_token=body.refresh_token)
    await upstreams.auth.Logout(request, metadata=caller.metadata(), timeout=upstreams.timeout)
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic, summary="The user behind the access token")
async def me(authed: CurrentUser, upstreams: UpstreamsDep) -> UserPublic:
    reply = await upstreams.auth.GetCurrentUser(
        auth_pb.GetCurrentUserRequest(), metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return user_out(reply.user)


@router.post("/password", status_code=204, summary="Change your own password (other sessions end)")
async def change_password(body: PasswordChangeIn, authed: CurrentUser, upstreams: UpstreamsDep) -> Response:
    request = auth_pb.ChangePasswordRequest(
        current_password=body.current_password, new_password=body.new_password
    )
    await upstreams.auth.ChangePassword(request, metadata=authed.info.metadata(), timeout=upstreams.timeout)
    return Response(status_code=204)
