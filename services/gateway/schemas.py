"""JSON shapes of the REST API and their conversion from protobuf messages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from convoy.auth.v1 import auth_pb2 as auth_pb
from services.gateway.schemas_enums import json_enum
from services.kit.timestamps import from_timestamp

__all__ = [
    "Role",
    "UserRole",
    "AuditResult",
    "ROLE_VALUES",
    "RESULT_VALUES",
    "LoginIn",
    "RefreshIn",
    "PasswordChangeIn",
    "UserPublic",
    "UserCreate",
    "UserUpdate",
    "UserPage",
    "TokenOut",
    "AuditRecordOut",
    "AuditPage",
    "AuditChainOut",
    "user_out",
    "token_out",
    "audit_out",
]

ROLE, RESULT = json_enum(auth_pb.Role), json_enum(auth_pb.AuditResult)
ROLE_VALUES, RESULT_VALUES = ROLE.values, RESULT.values
# Any role a reply may show (agent and service included: the identities of processes).
UserRole = ROLE.type
# The roles a person's account can be given; auth keeps agent and service for processes.
Role = ROLE.subset("admin", "operator", "viewer")
AuditResult = RESULT.type


class Input(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class LoginIn(Input):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(Input):
    refresh_token: str = Field(min_length=1, max_length=200)


class PasswordChangeIn(Input):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class UserCreate(Input):
    username: str = Field(min_length=2, max_length=64)
    display_name: str = Field("", max_length=128)
    role: Role
    password: str = Field(min_length=1, max_length=256)


class UserUpdate(Input):
    display_name: str | None = Field(None, max_length=128)
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=256)


class UserPublic(BaseModel):
    id: str
    username: str
    display_name: str
    role: UserRole | None
    disabled: bool
    created_at: datetime | None
    updated_at: datetime | None
    last_login_at: datetime | None


class UserPage(BaseModel):
    items: list[UserPublic]
    next_page_token: str
    total: int


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    access_expires_at: datetime | None
    refresh_token: str
    refresh_expires_at: datetime | None
    user: UserPublic


class AuditRecordOut(BaseModel):
    id: int
    time: datetime | None
    source: str
    actor: str
    action: str
    target: str
    result: AuditResult | None
    reason: str
    request_id: str
    client_address: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRecordOut]
    next_page_token: str


class AuditChainOut(BaseModel):
    ok: bool
    records_checked: int
    first_bad_id: int
    reason: str


def user_out(user: auth_pb.User) -> UserPublic:
    return UserPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=ROLE.name(user.role),
        disabled=user.disabled,
        created_at=from_timestamp(user, "created_at"),
        updated_at=from_timestamp(user, "updated_at"),
        last_login_at=from_timestamp(user, "last_login_at"),
    )


def token_out(tokens: auth_pb.TokenPair, user: auth_pb.User, now: datetime) -> TokenOut:
    access_expires = from_timestamp(tokens, "access_expires_at")
    return TokenOut(
        access_token=tokens.access_token,
        token_type=tokens.token_type or "Bearer",
        expires_in=max(0, int((access_expires - now).total_seconds())) if access_expires else 0,
        access_expires_at=access_expires,
        refresh_token=tokens.refresh_token,
        refresh_expires_at=from_timestamp(tokens, "refresh_expires_at"),
        user=user_out(user),
    )


def audit_out(record: auth_pb.AuditRecord) -> AuditRecordOut:
    return AuditRecordOut(
        id=record.id,
        time=from_timestamp(record, "time"),
        source=record.source,
        actor=record.actor,
        action=record.action,
        target=record.target,
        result=RESULT.name(record.result),
        reason=record.reason,
        request_id=record.request_id,
        client_address=record.client_address,
        prev_hash=record.prev_hash,
        hash=record.hash,
    )
