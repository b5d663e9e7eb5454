"""/api/v1/join-tokens: one-time secrets that let a node enroll (operators and admins only: a token is a
way into the fleet)."""

from __future__ import annotations

import shlex
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from convoy.auth.v1 import auth_pb2 as auth_pb
from services.gateway.routes.agent_install import install_offer
from services.gateway.schemas_deployments import (
    JoinTokenCreate,
    JoinTokenCreated,
    JoinTokenPage,
    join_token_out,
)
from services.gateway.security import Authed, UpstreamsDep, require_role
from services.kit.context import WRITE_ROLES

__all__ = ["router", "enroll_command"]

router = APIRouter(prefix="/api/v1/join-tokens", tags=["enrollment"])

CanCreate = Annotated[Authed, Depends(require_role("join_token.create", *WRITE_ROLES))]
CanList = Annotated[Authed, Depends(require_role("join_token.list", *WRITE_ROLES))]
CanRevoke = Annotated[Authed, Depends(require_role("join_token.revoke", *WRITE_ROLES))]
PageSize = Annotated[int, Query(ge=0, le=500)]


def enroll_command(address: str, token: str, fingerprint: str) -> str:
    """The line an operator pastes on the node. Quoted, although token and fingerprint are URL-safe, so
    that an address from the settings can never turn into a second command."""
    return " ".join(
        [
            "convoy-agent enroll",
            f"--server {shlex.quote(address)}",
            f"--token {shlex.quote(token)}",
            f"--ca-fingerprint {shlex.quote(fingerprint)}",
        ]
    )


@router.post(
    "",
    response_model=JoinTokenCreated,
    status_code=201,
    summary="Create a join token; the token and the command to run on the node are shown only now",
)
async def create_join_token(
    body: JoinTokenCreate, authed: CanCreate, upstreams: UpstreamsDep, http_request: Request
) -> JoinTokenCreated:
    request = auth_pb.CreateJoinTokenRequest(
        server_id=body.server_id,
        group_ids=body.group_ids,
        ttl_seconds=body.ttl_seconds,
        max_uses=body.max_uses,
    )
    reply = await upstreams.enrollment.CreateJoinToken(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    address = upstreams.settings.agent_enroll_address
    offer = install_offer(http_request, upstreams.settings, address, reply.token, reply.ca_fingerprint)
    return JoinTokenCreated(
        join_token=join_token_out(reply.join_token),
        token=reply.token,
        ca_fingerprint=reply.ca_fingerprint,
        command=enroll_command(address, reply.token, reply.ca_fingerprint),
        install_command=offer.command,
        install_unavailable=offer.unavailable,
    )


@router.get("", response_model=JoinTokenPage, summary="List join tokens (never the secrets), newest first")
async def list_join_tokens(
    authed: CanList,
    upstreams: UpstreamsDep,
    page_size: PageSize = 50,
    page_token: str = "",
    include_expired: bool = False,
) -> JoinTokenPage:
    request = auth_pb.ListJoinTokensRequest(
        page_size=page_size, page_token=page_token, include_expired=include_expired
    )
    reply = await upstreams.enrollment.ListJoinTokens(
        request, metadata=authed.info.metadata(), timeout=upstreams.timeout
    )
    return JoinTokenPage(
        items=[join_token_out(t) for t in reply.join_tokens], next_page_token=reply.next_page_token
    )


@router.delete("/{token_id}", status_code=204, summary="Revoke a join token (nodes already enrolled stay)")
async def revoke_join_token(token_id: str, authed: CanRevoke, upstreams: UpstreamsDep) -> Response:
    await upstreams.enrollment.RevokeJoinToken(
        auth_pb.RevokeJoinTokenRequest(id=token_id),
        metadata=authed.info.metadata(),
        timeout=upstreams.timeout,
    )
    return Response(status_code=204)
