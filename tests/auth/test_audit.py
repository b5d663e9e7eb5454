"""The audit log: one record per change and per denial, filters and paging, tamper detection."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher

from devstack.postgres import LocalPostgres
from tests.support.stack import (
    ADMIN_PASSWORD,
    AuthStack,
    gateway_client,
    isolated_gateway,
    superuser_connection,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def rid() -> str:
    return f"test-{uuid.uuid4().hex}"


async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    login = await client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def records_for(client: httpx.AsyncClient, request_id: str) -> list[dict]:
    response = await client.get(
        "/api/v1/audit", params={"request_id": request_id}, headers=await admin_headers(client)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_viewer_cannot_create_users_and_the_denial_is_audited(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        admin = await admin_headers(client)
        viewer = f"v{uuid.uuid4().hex[:10]}"
        body = {"username": viewer, "role": "viewer", "password": "viewer-password"}
        assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 201
        login = await client.post(
            "/api/v1/auth/login", json={"username": viewer, "password": "viewer-password"}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}", "X-Request-ID": rid()}
        attempt = {"username": f"x{uuid.uuid4().hex[:8]}", "role": "admin", "password": "sneaky-password"}
        refused = await client.post("/api/v1/users", json=attempt, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
        (record,) = await records_for(client, headers["X-Request-ID"])
        assert record["result"] == "denied"
        assert record["actor"] == f"user:{viewer}"
        assert record["action"] == "user.create"
        assert record["client_address"] == "127.0.0.1"
        users = await client.get("/api/v1/users", params={"q": attempt["username"]}, headers=admin)
        assert users.json()["items"] == []


async def test_every_mutating_call_leaves_exactly_one_record(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        admin = await admin_headers(client)
        name = f"m{uuid.uuid4().hex[:10]}"
        seen: dict[str, str] = {}

        async def call(
            action: str, method: str, url: str, body: dict | None, headers: dict | None = None
        ) -> dict:
            seen[action] = rid()
            response = await client.request(
                method, url, json=body, headers={**(headers or {}), "X-Request-ID": seen[action]}
            )
            assert response.status_code < 300, (action, response.text)
            return response.json() if response.content else {}

        user = await call(
            "user.create",
            "POST",
            "/api/v1/users",
            {"username": name, "role": "operator", "password": "first-password"},
            admin,
        )
        await call("user.update", "PATCH", f"/api/v1/users/{user['id']}", {"display_name": "Ops"}, admin)
        session = await call(
            "auth.login", "POST", "/api/v1/auth/login", {"username": name, "password": "first-password"}
        )
        own = {"Authorization": f"Bearer {session['access_token']}"}
        await call(
            "user.password.change",
            "POST",
            "/api/v1/auth/password",
            {"current_password": "first-password", "new_password": "second-password"},
            own,
        )
        rotated = await call(
            "auth.refresh", "POST", "/api/v1/auth/refresh", {"refresh_token": session["refresh_token"]}
        )
        await call("auth.logout", "POST", "/api/v1/auth/logout", {"refresh_token": rotated["refresh_token"]})
        await call("user.delete", "DELETE", f"/api/v1/users/{user['id']}", None, admin)

        for action, request_id in seen.items():
            records = await records_for(client, request_id)
            assert [(r["action"], r["result"]) for r in records] == [(action, "success")], action


async def test_a_failed_login_is_recorded_once_as_a_failure(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        request_id = rid()
        body = {"username": "admin", "password": "definitely-wrong"}
        assert (
            await client.post("/api/v1/auth/login", json=body, headers={"X-Request-ID": request_id})
        ).status_code == 401
        (record,) = await records_for(client, request_id)
        assert (record["action"], record["result"], record["reason"]) == (
            "auth.login",
            "failure",
            "wrong password",
        )


async def test_audit_is_filtered_and_paged_newest_first(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        admin = await admin_headers(client)
        for _ in range(3):
            await client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        ids: list[int] = []
        token = ""
        for _ in range(50):
            params = {"action": "auth.", "result": "success", "page_size": 2, "page_token": token}
            page = (await client.get("/api/v1/audit", params=params, headers=admin)).json()
            assert all(r["action"].startswith("auth.") and r["result"] == "success" for r in page["items"])
            ids += [r["id"] for r in page["items"]]
            token = page["next_page_token"]
            if not token:
                break
        assert len(ids) >= 4 and ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
        bad = await client.get("/api/v1/audit", params={"page_token": "%%%"}, headers=admin)
        assert bad.status_code == 400


async def fail_logins(client: httpx.AsyncClient, count: int) -> None:
    for _ in range(count):
        body = {"username": "admin", "password": "wrong-password"}
        assert (await client.post("/api/v1/auth/login", json=body)).status_code == 401


async def test_tampering_with_a_stored_record_is_detected(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    async with isolated_gateway(postgres, pki_dir, tmp_path, throttle_user_failures=100) as (client, url):
        admin = await admin_headers(client)
        await fail_logins(client, 4)
        intact = (await client.get("/api/v1/audit/verify", headers=admin)).json()
        assert intact["ok"] is True and intact["records_checked"] >= 6
        edit = "UPDATE auth.audit_log SET reason = 'nothing to see' WHERE id = $1"
        async with superuser_connection(url) as connection:
            victim = await connection.fetchval("SELECT id FROM auth.audit_log ORDER BY id LIMIT 1 OFFSET 2")
            with pytest.raises(asyncpg.RaiseError, match="insert-only"):
                await connection.execute(edit, victim)
            # Someone with superuser rights goes around the trigger.
            await connection.execute("ALTER TABLE auth.audit_log DISABLE TRIGGER audit_log_insert_only")
            await connection.execute(edit, victim)
        broken = (await client.get("/api/v1/audit/verify", headers=admin)).json()
        assert broken["ok"] is False
        assert broken["first_bad_id"] == victim
        assert "hash" in broken["reason"]


async def test_removing_a_record_is_detected(postgres: LocalPostgres, pki_dir: Path, tmp_path: Path) -> None:
    async with isolated_gateway(postgres, pki_dir, tmp_path, throttle_user_failures=100) as (client, url):
        admin = await admin_headers(client)
        await fail_logins(client, 3)
        async with superuser_connection(url) as connection:
            await connection.execute("ALTER TABLE auth.audit_log DISABLE TRIGGER audit_log_insert_only")
            removed = await connection.fetchval(
                "DELETE FROM auth.audit_log WHERE id = (SELECT min(id) + 1 FROM auth.audit_log) RETURNING id"
            )
        report = (await client.get("/api/v1/audit/verify", headers=admin)).json()
        assert report["ok"] is False and report["first_bad_id"] == removed + 1


async def test_the_last_admin_cannot_lock_everyone_out(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        admin = await admin_headers(client)
        me = (await client.get("/api/v1/auth/me", headers=admin)).json()
        demote = await client.patch(f"/api/v1/users/{me['id']}", json={"role": "viewer"}, headers=admin)
        assert demote.status_code == 409
        assert (await client.delete(f"/api/v1/users/{me['id']}", headers=admin)).status_code == 409


async def test_password_hashes_are_upgraded_when_parameters_change(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    owasp = {"argon2_memory_kib": 19456, "argon2_time_cost": 2}
    query = "SELECT password_hash FROM auth.users WHERE username = 'admin'"
    async with isolated_gateway(postgres, pki_dir, tmp_path, **owasp) as (client, url):
        async with superuser_connection(url) as connection:
            # A hash made under older, weaker parameters, as an earlier release would have stored it.
            older = PasswordHasher(memory_cost=64, time_cost=1, parallelism=1).hash(ADMIN_PASSWORD)
            await connection.execute(
                "UPDATE auth.users SET password_hash = $1 WHERE username = 'admin'", older
            )
            body = {"username": "admin", "password": ADMIN_PASSWORD}
            assert (await client.post("/api/v1/auth/login", json=body)).status_code == 200
            upgraded = await connection.fetchval(query)
    assert upgraded.startswith("$argon2id$") and "m=19456,t=2,p=1" in upgraded


async def test_users_read_themselves_but_not_others(auth_stack: AuthStack) -> None:
    async with gateway_client(auth_stack.target, auth_stack.pki_dir) as client:
        admin = await admin_headers(client)
        me_admin = (await client.get("/api/v1/auth/me", headers=admin)).json()
        name = f"o{uuid.uuid4().hex[:10]}"
        body = {"username": name, "role": "operator", "password": "operator-password"}
        own = (await client.post("/api/v1/users", json=body, headers=admin)).json()
        login = await client.post(
            "/api/v1/auth/login", json={"username": name, "password": "operator-password"}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}", "X-Request-ID": rid()}
        assert (await client.get(f"/api/v1/users/{own['id']}", headers=headers)).status_code == 200
        other = await client.get(f"/api/v1/users/{me_admin['id']}", headers=headers)
        assert other.status_code == 403
        (record,) = await records_for(client, headers["X-Request-ID"])
        assert (record["action"], record["result"], record["actor"]) == (
            "user.read",
            "denied",
            f"user:{name}",
        )
