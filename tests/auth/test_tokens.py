"""Forged and stale access tokens are refused by the gateway and by the auth service itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from convoy.auth.v1 import auth_pb2 as pb
from convoy.auth.v1 import auth_pb2_grpc as pb_grpc
from services.kit.tokens import TokenVerifier
from tests.support.stack import ADMIN_PASSWORD, AuthStack, gateway_client

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(stack: AuthStack, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": stack.settings.jwt_issuer,
        "aud": stack.settings.jwt_audience,
        "sub": str(uuid.uuid4()),
        "name": "mallory",
        "role": "admin",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
    }
    return {**claims, **overrides}


def _signed(stack: AuthStack, claims: dict[str, object]) -> str:
    """Signed with the real key: only the claims are wrong."""
    key = serialization.load_pem_private_key(stack.settings.jwt_key_file.read_bytes(), password=None)
    kid = stack.process.core.signer.key_id
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})  # type: ignore[arg-type]


def _unsigned(stack: AuthStack) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    return f"{header}.{_b64(json.dumps(_claims(stack)).encode())}."


def _hs256_with_public_key(stack: AuthStack) -> str:
    """The classic confusion attack: HMAC keyed with the verifier's own public key."""
    private = serialization.load_pem_private_key(stack.settings.jwt_key_file.read_bytes(), password=None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = stack.process.core.signer.key_id
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
    payload = _b64(json.dumps(_claims(stack)).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


FORGERIES = {
    "expired": lambda s: _signed(s, _claims(s, iat=int(time.time()) - 3600, exp=int(time.time()) - 1800)),
    "alg none": _unsigned,
    "HS256 keyed with the public key": _hs256_with_public_key,
    "wrong audience": lambda s: _signed(s, _claims(s, aud="someone-else")),
    "wrong issuer": lambda s: _signed(s, _claims(s, iss="https://evil.example")),
    "unknown role": lambda s: _signed(s, _claims(s, role="root")),
    "missing jti": lambda s: _signed(s, {k: v for k, v in _claims(s).items() if k != "jti"}),
    "garbage": lambda s: "not.a.token",
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_gateway_refuses_forged_tokens(auth_stack: AuthStack, forgery: str) -> None:
    token = FORGERIES[forgery](auth_stack)
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        response = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_auth_service_refuses_forged_tokens_too(auth_stack: AuthStack, forgery: str) -> None:
    """RBAC lives in every service: a caller that skips the gateway gains nothing."""
    token = FORGERIES[forgery](auth_stack)
    async with auth_stack.channel() as channel:
        stub = pb_grpc.AuthServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListUsers(pb.ListUsersRequest(), metadata=(("authorization", f"Bearer {token}"),))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_genuine_token_passes_both(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        token = login.json()["access_token"]
        assert (
            await client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "aud", "exp", "iat", "sub", "role", "jti"} <= claims.keys()


async def test_a_verified_token_says_when_it_expires(auth_stack: AuthStack) -> None:
    """What the token may open (an event stream) ends at its `exp`, read from the verified claims."""
    async with auth_stack.channel() as channel:
        jwks = await pb_grpc.AuthServiceStub(channel).GetJwks(pb.GetJwksRequest(), timeout=5)
    verifier = TokenVerifier(jwks.jwks_json, issuer=jwks.issuer, audience=jwks.audience)
    expires = int(time.time()) + 321
    principal = verifier.verify(_signed(auth_stack, _claims(auth_stack, exp=expires)))
    assert principal.expires_at == datetime.fromtimestamp(expires, UTC)


async def test_jwks_publishes_only_the_public_key(auth_stack: AuthStack) -> None:
    async with auth_stack.channel() as channel:
        reply = await pb_grpc.AuthServiceStub(channel).GetJwks(pb.GetJwksRequest())
    (key,) = json.loads(reply.jwks_json)["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
    assert "d" not in key
    assert reply.algorithm == "EdDSA"


async def test_a_client_without_a_service_certificate_is_refused(auth_stack: AuthStack) -> None:
    async with grpc.aio.secure_channel(
        auth_stack.target, grpc.ssl_channel_credentials((auth_stack.pki_dir / "ca.pem").read_bytes())
    ) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.AuthServiceStub(channel).GetJwks(pb.GetJwksRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
