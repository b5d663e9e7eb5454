"""Auth use cases for sessions: login, refresh rotation, logout, the current user, password change."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, delete, select, update

from services.auth import audit, metrics, throttle
from services.auth.audit import DENIED, FAILURE, AuditEvent
from services.auth.config import AuthSettings
from services.auth.errors import BadCredentials, InvalidRefreshToken
from services.auth.models import RefreshToken, User
from services.auth.passwords import Passwords, check_password_policy
from services.auth.signing import Signer
from services.auth.throttle import PURGE_BATCH
from services.kit.context import Principal, current_call, require_role, require_user
from services.kit.db import AsyncSession, Database
from services.kit.errors import (
    DomainError,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)

__all__ = ["TokenPair", "Session", "Core", "SessionUseCases", "utcnow", "hash_refresh_token"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


@dataclass(frozen=True)
class Session:
    user: User
    tokens: TokenPair


class Core:
    """What every auth use case needs: the database, the clock, hashing, signing and auditing."""

    def __init__(
        self,
        db: Database,
        settings: AuthSettings,
        signer: Signer,
        passwords: Passwords,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.settings, self.signer, self.passwords, self.now = db, settings, signer, passwords, clock
        self.throttle_policy = throttle.ThrottlePolicy(
            window=timedelta(seconds=settings.throttle_window_seconds),
            user_failures=settings.throttle_user_failures,
            address_failures=settings.throttle_address_failures,
            enroll_failures=settings.throttle_enroll_failures,
            block=timedelta(seconds=settings.throttle_block_seconds),
            max_block=timedelta(seconds=settings.throttle_max_block_seconds),
        )

    async def audit(self, session: AsyncSession, event: AuditEvent, *, actor: str = "") -> None:
        await audit.append(session, event, current_call(), now=self.now(), source="auth", actor=actor)

    async def audit_alone(self, event: AuditEvent, *, actor: str = "") -> None:
        """Records an event that changes nothing else (a denial), in a transaction of its own."""
        async with self.db.transaction() as session:
            await self.audit(session, event, actor=actor)

    async def authorize(self, action: str, target: str, *roles: str) -> Principal:
        """The calling user if its role allows `action`; otherwise the denial is audited and raised."""
        try:
            return require_role(*roles)
        except PermissionDenied as exc:
            await self.audit_alone(AuditEvent(action, target, DENIED, exc.message))
            raise

    async def start_family(self, session: AsyncSession, user: User) -> TokenPair:
        return await self.issue(session, user, uuid.uuid4())

    async def issue(self, session: AsyncSession, user: User, family_id: uuid.UUID) -> TokenPair:
        """A new access token plus the next refresh token of the family."""
        now = self.now()
        refresh = secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=self.settings.refresh_token_seconds)
        session.add(
            RefreshToken(
                family_id=family_id,
                user_id=user.id,
                token_hash=hash_refresh_token(refresh),
                issued_at=now,
                expires_at=expires,
            )
        )
        access = self.signer.issue(
            user_id=str(user.id), username=user.username, role=user.role, session_id=str(family_id), now=now
        )
        return TokenPair(access.token, access.expires_at, refresh, expires)

    async def revoke_families(self, session: AsyncSession, user_id: uuid.UUID, *, keep: str = "") -> None:
        """Ends every session of a user (except `keep`, the caller's own)."""
        statement = update(RefreshToken).where(
            col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None)
        )
        if keep:
            statement = statement.where(col(RefreshToken.family_id) != uuid.UUID(keep))
        await session.exec(statement.values(revoked_at=self.now()))  # type: ignore[call-overload]

    async def purge_dead_tokens(self, session: AsyncSession) -> None:
        """Removes a bounded batch of refresh tokens that can no longer be used (a day past expiry)."""
        cutoff = self.now() - timedelta(days=1)
        dead = (
            select(RefreshToken.id)
            .where(col(RefreshToken.expires_at) < cutoff)
            .limit(PURGE_BATCH)
            .with_for_update(skip_locked=True)
        )
        await session.exec(delete(RefreshToken).where(col(RefreshToken.id).in_(dead.scalar_subquery())))  # type: ignore[call-overload]

    async def revoke_family(self, session: AsyncSession, family_id: uuid.UUID) -> None:
        statement = update(RefreshToken).where(
            col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None)
        )
        await session.exec(statement.values(revoked_at=self.now()))  # type: ignore[call-overload]


class SessionUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def login(self, username: str, password: str) -> Session:
        core, call = self.core, current_call()
        username = username.strip().lower()
        if not username or not password:
            raise InvalidArgument("username and password are required")
        actor = f"user:{username[:64]}"
        keys = throttle.throttle_keys(username, call.client_address)
        await self._refuse_if_throttled(keys, actor)
        user = await self._find_user(username)
        valid = await core.passwords.verify(user.password_hash if user else None, password)
        if user is None or not valid or user.disabled:
            await self._count_failure(keys, actor, _why_refused(user, valid))
            metrics.login_refused(disabled=user is not None and valid)
            raise BadCredentials()
        return await self._open_session(user, password, actor)

    async def _refuse_if_throttled(self, keys: list[str], actor: str) -> None:
        async with self.core.db.transaction() as session:
            wait = await throttle.seconds_blocked(session, keys, self.core.now())
            if wait:
                event = AuditEvent("auth.login", actor, DENIED, "too many failed logins")
                await self.core.audit(session, event, actor=actor)
        if wait:
            metrics.throttled(metrics.LOGIN)
            raise ResourceExhausted("too many failed logins; try again later", retry_after=wait)

    async def _find_user(self, username: str) -> User | None:
        async with self.core.db.transaction() as session:
            return (await session.exec(select(User).where(User.username == username))).first()

    async def _count_failure(self, keys: list[str], actor: str, reason: str) -> None:
        async with self.core.db.transaction() as session:
            await throttle.record_failure(session, keys, self.core.now(), self.core.throttle_policy)
            await self.core.audit(session, AuditEvent("auth.login", actor, FAILURE, reason), actor=actor)

    async def _open_session(self, user: User, password: str, actor: str) -> Session:
        core = self.core
        new_hash = (
            await core.passwords.hash(password) if core.passwords.needs_rehash(user.password_hash) else ""
        )
        async with core.db.transaction() as session:
            user = await session.get_one(User, user.id)
            if new_hash:
                user.password_hash = new_hash
            user.last_login_at = core.now()
            await throttle.clear(session, user.username)
            tokens = await core.start_family(session, user)
            await core.purge_dead_tokens(session)
            await core.audit(session, AuditEvent("auth.login", actor), actor=actor)
        return Session(user, tokens)

    async def refresh(self, refresh_token: str) -> Session:
        core = self.core
        refusal: DomainError | None = None
        async with core.db.transaction() as session:
            row = await _lock_token(session, refresh_token)
            user = await session.get(User, row.user_id) if row else None
            actor = f"user:{user.username}" if user else "anonymous"
            reason, revoke = _refresh_refusal(row, user, core.now())
            if row is not None and user is not None and not reason:
                row.used_at = core.now()
                tokens = await core.issue(session, user, row.family_id)
                await core.audit(session, AuditEvent("auth.refresh", actor), actor=actor)
            else:
                if revoke and row is not None:
                    await core.revoke_family(session, row.family_id)
                await core.audit(session, AuditEvent("auth.refresh", actor, DENIED, reason), actor=actor)
                refusal = InvalidRefreshToken(reason)
        if refusal is not None:
            raise refusal
        assert user is not None
        return Session(user, tokens)

    async def logout(self, refresh_token: str) -> None:
        core = self.core
        async with core.db.transaction() as session:
            row = await _lock_token(session, refresh_token)
            if row is None:
                raise InvalidRefreshToken()
            user = await session.get(User, row.user_id)
            actor = f"user:{user.username}" if user else "anonymous"
            await core.revoke_family(session, row.family_id)
            await core.audit(session, AuditEvent("auth.logout", actor), actor=actor)

    async def current_user(self) -> User:
        principal = require_user()
        async with self.core.db.transaction() as session:
            user = await session.get(User, uuid.UUID(principal.subject))
        if user is None or user.disabled:
            raise Unauthenticated("the account is disabled or no longer exists")
        return user

    async def change_password(self, current_password: str, new_password: str) -> None:
        core, principal = self.core, require_user()
        user = await self.current_user()
        if not await core.passwords.verify(user.password_hash, current_password):
            await core.audit_alone(
                AuditEvent(
                    "user.password.change", f"user:{user.username}", DENIED, "current password is wrong"
                )
            )
            raise InvalidArgument("the current password is not correct")
        check_password_policy(new_password, username=user.username)
        if current_password == new_password:
            raise InvalidArgument("the new password must differ from the current one")
        new_hash = await core.passwords.hash(new_password)
        async with core.db.transaction() as session:
            user = await session.get_one(User, user.id)
            user.password_hash, user.updated_at = new_hash, core.now()
            # Other sessions end: whoever knew the old password may hold them.
            await core.revoke_families(session, user.id, keep=principal.session_id)
            await core.audit(session, AuditEvent("user.password.change", f"user:{user.username}"))


async def _lock_token(session: AsyncSession, refresh_token: str) -> RefreshToken | None:
    if not refresh_token:
        return None
    statement = select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
    return (await session.exec(statement.with_for_update())).first()


def _why_refused(user: User | None, password_valid: bool) -> str:
    if user is None:
        return "unknown user"
    return "wrong password" if not password_valid else "account disabled"


def _refresh_refusal(row: RefreshToken | None, user: User | None, now: datetime) -> tuple[str, bool]:
    """(reason, revoke the family?) — an empty reason means the token may be rotated."""
    if row is None:
        return "refresh token is invalid or expired", False
    if row.revoked_at is not None:
        return "the session was ended; log in again", False
    if row.used_at is not None:
        return "refresh token was already used; the session is revoked, log in again", True
    if row.expires_at <= now:
        return "refresh token is invalid or expired", False
    if user is None or user.disabled:
        return "the account is disabled or no longer exists", True
    return "", False
