"""User administration use cases (admin only) and the first-admin bootstrap."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.auth.audit import AuditEvent
from services.auth.models import User
from services.auth.passwords import check_password_policy
from services.auth.service import Core
from services.kit.context import ADMIN, USER_ROLES, require_user
from services.kit.db import AsyncSession
from services.kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.kit.pagination import decode_token, encode_token, page_size, parse_uuid

__all__ = ["UserChanges", "UserPage", "UserUseCases", "USERNAME_PATTERN"]

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class UserChanges:
    display_name: str | None = None
    role: str | None = None
    disabled: bool | None = None
    password: str | None = None


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    next_page_token: str
    total_size: int


def _check_username(username: str) -> str:
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise InvalidArgument("username must be 2-64 characters: lowercase letters, digits, '.', '_' or '-'")
    return username


def _check_role(role: str) -> str:
    if role not in USER_ROLES:
        raise InvalidArgument(f"role must be one of {', '.join(USER_ROLES)}")
    return role


def _check_display_name(name: str) -> str:
    name = name.strip()
    if len(name) > 128:
        raise InvalidArgument("display_name must be at most 128 characters")
    return name


class UserUseCases:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def create(self, username: str, display_name: str, role: str, password: str) -> User:
        core = self.core
        await core.authorize("user.create", f"user:{username.strip().lower()[:64]}", ADMIN)
        return await self._insert(
            _check_username(username), _check_display_name(display_name), _check_role(role), password
        )

    async def _insert(self, username: str, display_name: str, role: str, password: str) -> User:
        core = self.core
        check_password_policy(password, username=username)
        password_hash = await core.passwords.hash(password)
        now = core.now()
        user = User(
            username=username,
            display_name=display_name,
            role=role,
            password_hash=password_hash,
            created_at=now,
            updated_at=now,
        )
        try:
            async with core.db.transaction() as session:
                session.add(user)
                await session.flush()
                await core.audit(
                    session, AuditEvent("user.create", f"user:{username}", reason=f"role={role}")
                )
        except IntegrityError as exc:
            raise AlreadyExists(f"a user named {username!r} already exists") from exc
        return user

    async def get(self, user_id: str) -> User:
        principal = require_user()
        if principal.role != ADMIN and principal.subject != user_id:
            await self.core.authorize("user.read", f"user:{user_id}", ADMIN)
        async with self.core.db.transaction() as session:
            return await _load(session, user_id)

    async def list(self, *, size: int, token: str, query: str, role: str) -> UserPage:
        await self.core.authorize("user.list", "users", ADMIN)
        limit, after = page_size(size), decode_token(token, "after")
        statement = select(User)
        if query:
            text = query.strip().lower()
            statement = statement.where(
                or_(
                    col(User.username).contains(text, autoescape=True),
                    func.lower(col(User.display_name)).contains(text, autoescape=True),
                )
            )
        if role:
            statement = statement.where(User.role == _check_role(role))
        async with self.core.db.transaction() as session:
            total = (await session.exec(select(func.count()).select_from(statement.subquery()))).one()
            if after:
                statement = statement.where(col(User.username) > after["after"])
            rows = list(await session.exec(statement.order_by(col(User.username)).limit(limit + 1)))
        more = len(rows) > limit
        next_token = encode_token({"after": rows[limit - 1].username}) if more else ""
        return UserPage(rows[:limit], next_token, total)

    async def update(self, user_id: str, changes: UserChanges) -> User:
        core = self.core
        principal = await core.authorize("user.update", f"user:{user_id}", ADMIN)
        new_hash = await self._new_hash(changes)
        async with core.db.transaction() as session:
            user = await _load(session, user_id, lock=True)
            if principal.subject == user_id and (changes.disabled or changes.role not in (None, ADMIN)):
                raise FailedPrecondition("you cannot disable yourself or take away your own admin role")
            await _keep_an_admin(session, user, changes)
            # Sessions end when the account is disabled, its password reset, or its role changed (tokens
            # carry the role, so an old session would keep the old rights until it expired).
            ends_sessions = (
                changes.disabled or changes.password is not None or changes.role not in (None, user.role)
            )
            fields = self._apply(user, changes, new_hash)
            if ends_sessions:
                await core.revoke_families(session, user.id)
            await core.audit(session, AuditEvent("user.update", f"user:{user.username}", reason=fields))
        return user

    async def _new_hash(self, changes: UserChanges) -> str:
        if changes.password is None:
            return ""
        check_password_policy(changes.password)
        return await self.core.passwords.hash(changes.password)

    def _apply(self, user: User, changes: UserChanges, new_hash: str) -> str:
        """Applies the changes; returns the names of the changed fields for the audit record."""
        changed = []
        if changes.display_name is not None:
            user.display_name = _check_display_name(changes.display_name)
            changed.append("display_name")
        if changes.role is not None:
            changed.append(f"role={user.role}->{_check_role(changes.role)}")
            user.role = changes.role
        if changes.disabled is not None:
            user.disabled = changes.disabled
            changed.append(f"disabled={changes.disabled}")
        if new_hash:
            user.password_hash = new_hash
            changed.append("password")
        user.updated_at = self.core.now()
        return ", ".join(changed) or "no changes"

    async def delete(self, user_id: str) -> None:
        core = self.core
        principal = await core.authorize("user.delete", f"user:{user_id}", ADMIN)
        if principal.subject == user_id:
            raise FailedPrecondition("you cannot delete your own account")
        async with core.db.transaction() as session:
            user = await _load(session, user_id, lock=True)
            await _keep_an_admin(session, user, UserChanges(disabled=True))
            await session.delete(user)
            await core.audit(session, AuditEvent("user.delete", f"user:{user.username}"))

    async def ensure_admin(self, username: str, password: str, *, reset: bool) -> tuple[User, bool]:
        """Creates the first admin (no caller needed); with `reset`, an existing one gets `password`."""
        username = _check_username(username)
        async with self.core.db.transaction() as session:
            user = (await session.exec(select(User).where(User.username == username))).first()
        if user is None:
            return await self._insert(username, "Administrator", ADMIN, password), True
        if reset:
            await self._reset(user, password)
        return user, False

    async def _reset(self, user: User, password: str) -> None:
        check_password_policy(password, username=user.username)
        new_hash = await self.core.passwords.hash(password)
        async with self.core.db.transaction() as session:
            row = await session.get_one(User, user.id)
            row.password_hash, row.disabled, row.role, row.updated_at = (
                new_hash,
                False,
                ADMIN,
                self.core.now(),
            )
            await self.core.audit(session, AuditEvent("user.password.reset", f"user:{user.username}"))


async def _load(session: AsyncSession, user_id: str, *, lock: bool = False) -> User:
    statement = select(User).where(User.id == parse_uuid(user_id, "user id"))
    user = (await session.exec(statement.with_for_update() if lock else statement)).first()
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


async def _keep_an_admin(session: AsyncSession, user: User, changes: UserChanges) -> None:
    """Refuses a change that would leave no enabled admin."""
    loses_admin = (
        user.role == ADMIN and not user.disabled and (changes.disabled or changes.role not in (None, ADMIN))
    )
    if not loses_admin:
        return
    others = select(func.count()).where(User.role == ADMIN, col(User.disabled).is_(False), User.id != user.id)
    if (await session.exec(others)).one() == 0:
        raise FailedPrecondition("this is the last enabled admin; make another admin first")
