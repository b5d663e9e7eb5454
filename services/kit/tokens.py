"""Local verification of access tokens against the auth service's published keys (JWKS)."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
from jwt import PyJWKSet

from services.kit.context import USER_ROLES, Principal
from services.kit.errors import Unauthenticated

__all__ = ["ALGORITHM", "TOKEN_TYPE", "REQUIRED_CLAIMS", "TokenVerifier", "UnknownSigningKey"]

# One pinned algorithm: a token that names any other (none, HS256, RS256 …) is refused before any key is used.
ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub", "jti", "role"]


class UnknownSigningKey(Unauthenticated):
    """The token names a key id we do not have: the keys may have rotated since we fetched them."""


class TokenVerifier:
    """Checks signature, algorithm, type, issuer, audience and lifetime of an access token."""

    def __init__(self, jwks_json: str, *, issuer: str, audience: str, leeway_seconds: int = 5) -> None:
        self._keys = {key.key_id: key for key in PyJWKSet.from_json(jwks_json).keys}
        self._issuer, self._audience, self._leeway = issuer, audience, leeway_seconds

    def verify(self, token: str) -> Principal:
        claims = self._decode(token)
        if claims["role"] not in USER_ROLES:
            raise Unauthenticated("access token has an unknown role")
        return Principal(
            kind="user",
            subject=claims["sub"],
            role=claims["role"],
            name=claims.get("name", ""),
            token_id=claims["jti"],
            session_id=claims.get("sid", ""),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )

    def _decode(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("access token is malformed") from exc
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise Unauthenticated("access token algorithm or type is not accepted")
        key = self._keys.get(header.get("kid", ""))
        if key is None:
            raise UnknownSigningKey("access token was signed with an unknown key")
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("access token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("access token is invalid") from exc
