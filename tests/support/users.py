"""Real users on a real auth server for tests: tokens per role, call credentials, and audit look-ups."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from tests.support.stack import ADMIN_PASSWORD, AuthStack

__all__ = ["Users", "make_users", "grpc_auth", "http_auth", "audit_by_request", "request_id"]


@dataclass(frozen=True)
class Users:
    """Access tokens of the admin and of a fresh operator and viewer (with their usernames)."""

    admin: str
    operator: str
    viewer: str
    operator_name: str
    viewer_name: str


def grpc_auth(token: str, request_id: str = "") -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying an access token and, when given, a request id."""
    items = [("authorization", f"Bearer {token}")]
    if request_id:
        items.append(("x-request-id", request_id))
    return tuple(items)


def http_auth(token: str, request_id: str = "") -> dict[str, str]:
    """HTTP headers carrying an access token and, when given, a request id."""
    return {
        ("Authorization" if k == "authorization" else "X-Request-ID"): v
        for k, v in grpc_auth(token, request_id)
    }


def request_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


async def _login(stub: auth_grpc.AuthServiceStub, username: str, password: str) -> str:
    reply = await stub.Login(auth_pb.LoginRequest(username=username, password=password), timeout=10)
    return reply.tokens.access_token


async def make_users(auth: AuthStack) -> Users:
    """Logs the admin in, creates an operator and a viewer with unique names, and logs them in."""
    async with auth.channel("gateway") as channel:
        stub = auth_grpc.AuthServiceStub(channel)
        admin = await _login(stub, "admin", ADMIN_PASSWORD)
        names, password = {}, f"pw-{uuid.uuid4().hex}"
        for role, value in (("operator", auth_pb.ROLE_OPERATOR), ("viewer", auth_pb.ROLE_VIEWER)):
            names[role] = f"{role[0]}{uuid.uuid4().hex[:12]}"
            request = auth_pb.CreateUserRequest(username=names[role], role=value, password=password)
            await stub.CreateUser(request, metadata=grpc_auth(admin), timeout=10)
        operator, viewer = await asyncio.gather(
            _login(stub, names["operator"], password), _login(stub, names["viewer"], password)
        )
    return Users(admin, operator, viewer, names["operator"], names["viewer"])


async def audit_by_request(auth: AuthStack, admin_token: str, rid: str) -> list[auth_pb.AuditRecord]:
    """The audit records written on behalf of request `rid`, read straight from auth."""
    async with auth.channel("gateway") as channel:
        reply = await auth_grpc.AuditServiceStub(channel).ListAudit(
            auth_pb.ListAuditRequest(request_id=rid), metadata=grpc_auth(admin_token), timeout=10
        )
    return list(reply.records)
