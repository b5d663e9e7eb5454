"""Tables of the auth schema: users, refresh-token families, login throttling, the audit chain, join tokens
and enrolled nodes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Identity, Uuid
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

__all__ = ["SCHEMA", "User", "RefreshToken", "LoginThrottle", "AuditEntry", "JoinToken", "Node"]

SCHEMA = "auth"


def _utc(**kwargs: object) -> object:
    """A timezone-aware timestamp column."""
    return Field(sa_type=DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(unique=True, max_length=64)
    display_name: str = Field(default="", max_length=128)
    role: str = Field(max_length=16)
    password_hash: str
    disabled: bool = False
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    last_login_at: datetime | None = _utc(default=None, nullable=True)


class RefreshToken(SQLModel, table=True):
    """One link of a refresh-token family; only the SHA-256 of the opaque token is kept."""

    __tablename__ = "refresh_tokens"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    family_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID = Field(foreign_key=f"{SCHEMA}.users.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(unique=True, max_length=64)
    issued_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(default=None, nullable=True)
    revoked_at: datetime | None = _utc(default=None, nullable=True)


class LoginThrottle(SQLModel, table=True):
    """Failed logins per key ("user:<name>" or "addr:<ip>") in the current window."""

    __tablename__ = "login_throttle"
    __table_args__ = {"schema": SCHEMA}

    key: str = Field(primary_key=True, max_length=300)
    failures: int = 0
    window_started_at: datetime = _utc()
    blocked_until: datetime | None = _utc(default=None, nullable=True)


class AuditEntry(SQLModel, table=True):
    """Insert-only; each row's hash covers its fields and the previous row's hash."""

    __tablename__ = "audit_log"
    __table_args__ = {"schema": SCHEMA}

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    time: datetime = _utc(index=True)
    source: str = Field(max_length=64)
    actor: str = Field(max_length=200, index=True)
    action: str = Field(max_length=100, index=True)
    target: str = Field(default="", max_length=300)
    result: str = Field(max_length=16)
    reason: str = Field(default="", max_length=1000)
    request_id: str = Field(default="", max_length=100)
    client_address: str = Field(default="", max_length=200)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class JoinToken(SQLModel, table=True):
    """A secret that lets agents enroll; only the SHA-256 of the token text is kept."""

    __tablename__ = "join_tokens"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    # The server the enrolling node becomes; None: a new server id per enrollment.
    server_id: uuid.UUID | None = Field(default=None, nullable=True, index=True)
    group_ids: list[uuid.UUID] = Field(
        default_factory=list, sa_column=Column(ARRAY(Uuid()), nullable=False, server_default="{}")
    )
    expires_at: datetime = _utc(index=True)
    max_uses: int = 1
    uses: int = 0
    revoked: bool = False
    created_by: str = Field(max_length=200)
    created_at: datetime = _utc(index=True)


class Node(SQLModel, table=True):
    """An enrolled node: the identity in its certificate, the certificate last signed, and revocation."""

    __tablename__ = "nodes"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(primary_key=True)
    hostname: str = Field(default="", max_length=255)
    enrolled_at: datetime = _utc()
    # Hex serial and expiry of the newest certificate signed for the node.
    certificate_serial: str = Field(max_length=64)
    not_after: datetime = _utc()
    renewed_at: datetime | None = _utc(default=None, nullable=True)
    revoked_at: datetime | None = _utc(default=None, nullable=True)
    revoked_reason: str = Field(default="", max_length=1000)
    # The token of the latest enrollment: revoking the node revokes it too (it may have uses left).
    join_token_id: uuid.UUID | None = Field(default=None, nullable=True)
