"""Login, refresh rotation and reuse detection, logout, throttling — through the real gateway and auth."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from devstack.postgres import LocalPostgres
from tests.support.stack import (
    ADMIN_PASSWORD,
    AuthStack,
    auth_settings,
    fresh_database,
    gateway_client,
    start_auth,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"username": username, "password": password})


async def admin_token(client: httpx.AsyncClient) -> str:
    response = await login(client, "admin", ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def make_user(
    client: httpx.AsyncClient, role: str = "viewer", password: str = "a-good-password"
) -> str:
    username = f"u{uuid.uuid4().hex[:12]}"
    headers = {"Authorization": f"Bearer {await admin_token(client)}"}
    body = {"username": username, "role": role, "password": password}
    response = await client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return username


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_returns_tokens_and_me_works(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        response = await login(client, "admin", ADMIN_PASSWORD)
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer" and body["refresh_token"]
        assert 0 < body["expires_in"] <= 900
        me = await client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
        assert me.status_code == 200
        assert me.json()["username"] == "admin" and me.json()["role"] == "admin"


async def test_refresh_rotates_and_reuse_revokes_the_family(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        username = await make_user(client)
        first = (await login(client, username, "a-good-password")).json()["refresh_token"]
        rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
        assert rotated.status_code == 200
        second = rotated.json()["refresh_token"]
        assert second != first

        reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
        assert reuse.status_code == 401
        assert "already used" in reuse.json()["error"]["message"]
        # The thief's reuse ended the whole family: the legitimate newest token is dead too.
        after = await client.post("/api/v1/auth/refresh", json={"refresh_token": second})
        assert after.status_code == 401


async def test_logout_ends_the_session(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        username = await make_user(client)
        refresh = (await login(client, username, "a-good-password")).json()["refresh_token"]
        assert (await client.post("/api/v1/auth/logout", json={"refresh_token": refresh})).status_code == 204
        assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})).status_code == 401


async def test_disabled_and_deleted_users_lose_their_sessions_at_refresh(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        admin = bearer(await admin_token(client))
        for action in ("disable", "delete"):
            username = await make_user(client)
            session = (await login(client, username, "a-good-password")).json()
            user_id = session["user"]["id"]
            if action == "disable":
                change = await client.patch(
                    f"/api/v1/users/{user_id}", json={"disabled": True}, headers=admin
                )
                assert change.status_code == 200 and change.json()["disabled"] is True
            else:
                assert (await client.delete(f"/api/v1/users/{user_id}", headers=admin)).status_code == 204
            refreshed = await client.post(
                "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
            )
            assert refreshed.status_code == 401, action
            assert (await login(client, username, "a-good-password")).status_code == 401


async def test_unknown_user_and_wrong_password_get_the_same_answer(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        username = await make_user(client)
        wrong = await login(client, username, "not-the-password")
        unknown = await login(client, f"ghost{uuid.uuid4().hex[:8]}", "not-the-password")
        assert wrong.status_code == unknown.status_code == 401
        strip = lambda r: {**r.json()["error"], "request_id": None}  # noqa: E731
        assert strip(wrong) == strip(unknown)
        assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")


async def test_repeated_failures_are_throttled_with_retry_after(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        username = await make_user(client)
        for _ in range(auth_stack.settings.throttle_user_failures):
            assert (await login(client, username, "wrong-password!")).status_code == 401
        throttled = await login(client, username, "a-good-password")
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) >= 1
        assert throttled.json()["error"]["code"] == "resource_exhausted"
        # Other users from the same address are unaffected by one user's lockout.
        other = await make_user(client)
        assert (await login(client, other, "a-good-password")).status_code == 200


async def test_many_failures_from_one_address_are_throttled(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    url = await fresh_database(postgres, "auth")
    async with start_auth(
        auth_settings(url, pki_dir, tmp_path / "jwt.pem", throttle_address_failures=4)
    ) as stack:
        async with gateway_client(stack.target, pki_dir, client_address="192.0.2.7") as sprayer:
            # A password spray: every attempt names another user, so only the address links them.
            statuses = [(await login(sprayer, f"spray{n}", "guess-guess")).status_code for n in range(5)]
            assert statuses == [401, 401, 401, 401, 429]
        async with gateway_client(stack.target, pki_dir, client_address="192.0.2.8") as elsewhere:
            assert (await login(elsewhere, "admin", ADMIN_PASSWORD)).status_code == 200


async def test_change_password_keeps_this_session_and_ends_others(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        username = await make_user(client)
        here = (await login(client, username, "a-good-password")).json()
        elsewhere = (await login(client, username, "a-good-password")).json()
        body = {"current_password": "a-good-password", "new_password": "a-better-password"}
        changed = await client.post("/api/v1/auth/password", json=body, headers=bearer(here["access_token"]))
        assert changed.status_code == 204
        assert (
            await client.post("/api/v1/auth/refresh", json={"refresh_token": here["refresh_token"]})
        ).status_code == 200
        other = await client.post("/api/v1/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]})
        assert other.status_code == 401
        assert (await login(client, username, "a-better-password")).status_code == 200
        bad = {"current_password": "nope-nope-nope", "new_password": "another-password"}
        refused = await client.post("/api/v1/auth/password", json=bad, headers=bearer(here["access_token"]))
        assert refused.status_code == 400


async def test_a_role_change_ends_the_users_sessions(auth_stack: AuthStack) -> None:
    """Access tokens carry the role: the old sessions must not outlive the old rights."""
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        username = await make_user(client, role="operator")
        session = (await login(client, username, "a-good-password")).json()
        admin = bearer(await admin_token(client))
        change = await client.patch(
            f"/api/v1/users/{session['user']['id']}", json={"role": "viewer"}, headers=admin
        )
        assert change.status_code == 200 and change.json()["role"] == "viewer"
        refreshed = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
        )
        assert refreshed.status_code == 401
        relogin = await login(client, username, "a-good-password")
        assert relogin.json()["user"]["role"] == "viewer"


async def test_user_search_treats_wildcards_literally(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        await make_user(client)
        admin = bearer(await admin_token(client))
        everyone = await client.get("/api/v1/users", headers=admin)
        assert everyone.json()["total"] >= 2
        percent = await client.get("/api/v1/users", params={"q": "%"}, headers=admin)
        assert percent.status_code == 200 and percent.json()["items"] == []
