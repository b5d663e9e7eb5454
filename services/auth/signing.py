"""Access tokens: Ed25519-signed JWTs (one pinned algorithm) and the JWKS that lets others verify them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from services.kit.tokens import ALGORITHM, TOKEN_TYPE

__all__ = ["AccessToken", "Signer", "create_key_file"]


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


def create_key_file(path: Path) -> bool:
    """Writes a new Ed25519 private key (mode 0600) unless one exists; True when it wrote one."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return True


class Signer:
    """Signs access tokens with the service's private key and publishes the public half."""

    def __init__(self, private_key_pem: bytes, *, issuer: str, audience: str, lifetime: timedelta) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the JWT signing key must be an Ed25519 private key")
        self._key = key
        self.issuer, self.audience, self._lifetime = issuer, audience, lifetime
        self._public_jwk = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.key_id = _thumbprint(self._public_jwk)

    def issue(self, *, user_id: str, username: str, role: str, session_id: str, now: datetime) -> AccessToken:
        expires_at = now + self._lifetime
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "name": username,
            "role": role,
            "sid": session_id,
            "jti": uuid.uuid4().hex,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        headers = {"kid": self.key_id, "typ": TOKEN_TYPE}
        return AccessToken(jwt.encode(claims, self._key, algorithm=ALGORITHM, headers=headers), expires_at)

    def jwks_json(self) -> str:
        return json.dumps(
            {"keys": [{**self._public_jwk, "kid": self.key_id, "use": "sig", "alg": ALGORITHM}]}
        )


def _thumbprint(jwk: dict) -> str:
    """RFC 7638 key thumbprint, so the key id changes exactly when the key does."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    digest = hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
