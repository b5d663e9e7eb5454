"""Request dependencies: the caller, its verified access token, and role checks on every route."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import grpc
from fastapi import Depends, Request

from convoy.auth.v1 import auth_pb2 as auth_pb
from services.gateway.errors import ApiError
from services.gateway.upstream import CallerInfo, Upstreams
from services.kit.context import Principal
from services.kit.errors import Unauthenticated
from services.kit.tokens import UnknownSigningKey

__all__ = ["UpstreamsDep", "CallerDep", "Authed", "CurrentUser", "require_role"]

log = logging.getLogger("convoy.gateway")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]


def get_caller(request: Request) -> CallerInfo:
    client = request.client.host if request.client else ""
    return CallerInfo(request_id=request.state.request_id, client_address=client)


CallerDep = Annotated[CallerInfo, Depends(get_caller)]


@dataclass(frozen=True)
class Authed:
    """A caller whose access token the gateway has verified; the principal carries the token's expiry
    (`expires_at`, always set for a verified token), which bounds what the token may open (an event
    stream ends there)."""

    principal: Principal
    info: CallerInfo


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthenticated", "send 'Authorization: Bearer <access token>'", _CHALLENGE)
    return token.strip()


async def _verify(upstreams: Upstreams, token: str) -> Principal:
    verifier = upstreams.verifier
    if verifier is None:
        raise ApiError(503, "unavailable", "token keys are not loaded yet; retry shortly")
    try:
        return verifier.verify(token)
    except UnknownSigningKey:
        return (await upstreams.keys.load()).verify(token)


async def current_user(request: Request, upstreams: UpstreamsDep, caller: CallerDep) -> Authed:
    token = _bearer(request)
    try:
        principal = await _verify(upstreams, token)
    except Unauthenticated as exc:
        raise ApiError(401, "unauthenticated", exc.message, _CHALLENGE) from exc
    return Authed(principal, CallerInfo(caller.request_id, caller.client_address, token))


CurrentUser = Annotated[Authed, Depends(current_user)]


def require_role(action: str, *roles: str) -> Callable[..., Awaitable[Authed]]:
    """A dependency admitting only `roles`; a refusal is written to the audit log before the 403."""

    async def check(request: Request, authed: CurrentUser, upstreams: UpstreamsDep) -> Authed:
        if authed.principal.role in roles:
            return authed
        reason = f"role {authed.principal.role!r} may not {action} (needs {' or '.join(roles)})"
        await _audit_denial(upstreams, authed, action, request.url.path, reason)
        raise ApiError(403, "permission_denied", reason)

    return check


async def _audit_denial(upstreams: Upstreams, authed: Authed, action: str, target: str, reason: str) -> None:
    record = auth_pb.RecordAuditRequest(
        action=action,
        target=target,
        result=auth_pb.AUDIT_RESULT_DENIED,
        reason=reason,
        actor=authed.principal.label,
    )
    try:
        await upstreams.audit.RecordAudit(
            record, metadata=authed.info.metadata(with_token=False), timeout=upstreams.timeout
        )
    except grpc.aio.AioRpcError as exc:
        # The caller is refused either way; losing the record is logged loudly rather than hidden.
        log.error("could not audit a denial of %s: %s", action, exc.code().name)
