"""Tables that attackers or time could grow without bound are trimmed as a side effect of normal use."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres
from tests.support.stack import ADMIN_PASSWORD, isolated_gateway, superuser_connection

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_stale_throttle_counters_are_purged(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    async with isolated_gateway(postgres, pki_dir, tmp_path) as (client, url):
        await client.post("/api/v1/auth/login", json={"username": "ghost-one", "password": "guess-guess"})
        async with superuser_connection(url) as db:
            await db.execute(
                "UPDATE auth.login_throttle SET window_started_at = now() - interval '1 hour' "
                "WHERE key = 'user:ghost-one'"
            )
            await client.post("/api/v1/auth/login", json={"username": "ghost-two", "password": "guess-guess"})
            keys = {row["key"] for row in await db.fetch("SELECT key FROM auth.login_throttle")}
    assert "user:ghost-one" not in keys
    assert "user:ghost-two" in keys


async def test_expired_refresh_tokens_are_purged(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    body = {"username": "admin", "password": ADMIN_PASSWORD}
    async with isolated_gateway(postgres, pki_dir, tmp_path) as (client, url):
        first = (await client.post("/api/v1/auth/login", json=body)).json()["refresh_token"]
        async with superuser_connection(url) as db:
            await db.execute("UPDATE auth.refresh_tokens SET expires_at = now() - interval '2 days'")
            assert (await client.post("/api/v1/auth/login", json=body)).status_code == 200
            remaining = await db.fetchval("SELECT count(*) FROM auth.refresh_tokens")
        assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": first})).status_code == 401
    assert remaining == 1
