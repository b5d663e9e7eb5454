"""Auth's metrics follow what callers see: refused logins by reason, and attempts refused for throttling,
logins and enrollments apart; every reason and kind is there at zero before the first."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest

from devstack.postgres import LocalPostgres
from tests.support.metrics import sample_value
from tests.support.stack import (
    ADMIN_PASSWORD,
    AuthStack,
    auth_settings,
    fresh_database,
    gateway_client,
    redeem_join_token,
    start_auth,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

BAD_TOKEN = "cvj_" + "z" * 43
PASSWORD = "a-good-password"


def value(name: str, labels: dict[str, str]) -> float:
    found = sample_value(generate_latest(REGISTRY).decode(), name, labels)
    assert found is not None, f"{name}{labels} is not exported"
    return found


def failures(reason: str) -> float:
    return value("convoy_login_failures_total", {"reason": reason})


def throttled(kind: str) -> float:
    return value("convoy_login_throttled_total", {"kind": kind})


@pytest.fixture(scope="module")
async def auth(
    postgres: LocalPostgres, pki_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AuthStack]:
    url = await fresh_database(postgres, "auth")
    key_file = tmp_path_factory.mktemp("keys") / "jwt.pem"
    settings = auth_settings(url, pki_dir, key_file, throttle_user_failures=2, throttle_enroll_failures=1)
    async with start_auth(settings) as stack:
        yield stack


async def login(client: httpx.AsyncClient, username: str, password: str) -> int:
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return response.status_code


async def new_user(client: httpx.AsyncClient, *, disabled: bool = False) -> str:
    token = await client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    username = f"u{uuid.uuid4().hex[:12]}"
    body = {"username": username, "role": "viewer", "password": PASSWORD}
    created = await client.post("/api/v1/users", json=body, headers=headers)
    assert created.status_code == 201, created.text
    if disabled:
        change = await client.patch(
            f"/api/v1/users/{created.json()['id']}", json={"disabled": True}, headers=headers
        )
        assert change.status_code == 200, change.text
    return username


async def test_every_reason_and_kind_is_exported_from_the_start(auth: AuthStack) -> None:
    exposition = generate_latest(REGISTRY).decode()
    for reason in ("bad_credentials", "disabled"):
        assert sample_value(exposition, "convoy_login_failures_total", {"reason": reason}) is not None
    for kind in ("login", "enrollment"):
        assert sample_value(exposition, "convoy_login_throttled_total", {"kind": kind}) is not None


async def test_refused_logins_are_counted_by_reason(auth: AuthStack) -> None:
    bad, disabled = failures("bad_credentials"), failures("disabled")
    async with gateway_client(auth.target, auth.pki_dir) as client:
        active, locked_out = await new_user(client), await new_user(client, disabled=True)
        assert await login(client, active, "not-the-password") == 401
        assert await login(client, f"ghost{uuid.uuid4().hex[:8]}", PASSWORD) == 401
        assert await login(client, locked_out, PASSWORD) == 401
        assert await login(client, active, PASSWORD) == 200

    assert failures("bad_credentials") == bad + 2
    assert failures("disabled") == disabled + 1


async def test_throttled_logins_and_enrollments_are_counted_apart(auth: AuthStack) -> None:
    logins, enrollments = throttled("login"), throttled("enrollment")
    async with gateway_client(auth.target, auth.pki_dir) as client:
        username = await new_user(client)
        for _ in range(auth.settings.throttle_user_failures):
            assert await login(client, username, "not-the-password") == 401
        assert await login(client, username, PASSWORD) == 429
    assert (throttled("login"), throttled("enrollment")) == (logins + 1, enrollments)

    peer = "ipv4:192.0.2.90:4000"
    codes = []
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await redeem_join_token(auth, BAD_TOKEN, peer_address=peer)
        codes.append(refused.value.code())
    assert codes == [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert (throttled("login"), throttled("enrollment")) == (logins + 1, enrollments + 1)
