"""Argon2id password hashing with rehash-on-login when the parameters change."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.kit.errors import InvalidArgument

__all__ = ["Passwords", "check_password_policy", "generate_password"]

MIN_LENGTH, MAX_LENGTH = 10, 256


def check_password_policy(password: str, *, username: str = "") -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidArgument(f"password must be {MIN_LENGTH} to {MAX_LENGTH} characters long")
    if username and password.lower() == username.lower():
        raise InvalidArgument("password must differ from the username")


def generate_password() -> str:
    return secrets.token_urlsafe(18)


class Passwords:
    """Hashes and verifies off the event loop: argon2 is deliberately slow."""

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism)
        # Unknown users are checked against this so they cost the same time as wrong passwords.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return (
            await asyncio.to_thread(self._verify, stored_hash or self._decoy, password)
            and stored_hash is not None
        )

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
