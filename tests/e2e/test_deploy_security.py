"""Refusals end to end, each one audited: a used join token, an expired one, a revoked node."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.agents import AgentHost
from tests.support.e2e_stack import E2EStack, ok, wait_for

E2E_HOSTS = 3

pytestmark = pytest.mark.timeout(600)


def audit(client: httpx.Client, action: str, result: str) -> list[dict[str, Any]]:
    page = ok(client.get("/api/v1/audit", params={"action": action, "result": result, "page_size": 200}))
    records: list[dict[str, Any]] = page["items"]
    return records


def expire_token(database_url: str, token_id: str) -> None:
    """Moves a token's expiry into the past, as the clock would after its TTL (15 minutes at least)."""

    async def run() -> None:
        connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await connection.execute(
                "UPDATE auth.join_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
                token_id,
            )
        finally:
            await connection.close()

    asyncio.run(run())


def test_used_and_expired_join_tokens_are_refused_and_audited(e2e: E2EStack, make_agent_host: Any) -> None:
    first: AgentHost = make_agent_host("deb", "sec-1")
    second: AgentHost = make_agent_host("deb", "sec-2")
    with e2e.client() as client:
        once = e2e.create_join_token(client)
        first.enroll_ok(once["token"], e2e.enroll_address, once["ca_fingerprint"])

        used = second.enroll(once["token"], e2e.enroll_address, once["ca_fingerprint"])
        assert used.returncode != 0, used.stdout
        assert "join token" in used.stderr, used.stderr
        assert not second.config_file.exists()

        late = e2e.create_join_token(client)
        expire_token(e2e.database_url, late["join_token"]["id"])
        expired = second.enroll(late["token"], e2e.enroll_address, late["ca_fingerprint"])
        assert expired.returncode != 0, expired.stdout
        assert "join token" in expired.stderr, expired.stderr

        denied = audit(client, "node.enroll", "denied")
        reasons = " | ".join(record["reason"] for record in denied)
        assert "used" in reasons and "expired" in reasons, denied


def test_revoked_node_is_cut_off_and_refused(e2e: E2EStack, make_agent_host: Any) -> None:
    host: AgentHost = make_agent_host("rpm", "sec-3")
    with e2e.client() as client:
        token = e2e.create_join_token(client)
        node_id = host.enroll_ok(token["token"], e2e.enroll_address, token["ca_fingerprint"])
        host.start()
        wait_for(
            lambda: ok(client.get(f"/api/v1/servers/{node_id}"))["status"] == "online",
            timeout=60,
            what="the node online",
        )
        ok(client.post(f"/api/v1/servers/{node_id}/revoke", json={"reason": "decommissioned"}), 200, 204)
        assert ok(client.get(f"/api/v1/servers/{node_id}"))["status"] == "revoked"

        # The open stream is closed and every reconnect refused: each refusal leaves a denied record.
        def refused_again() -> bool:
            return any(node_id in (r["target"] + r["actor"]) for r in audit(client, "", "denied"))

        wait_for(refused_again, timeout=60, what="a denied call of the revoked node in the audit log")
        assert ok(client.get(f"/api/v1/servers/{node_id}"))["status"] == "revoked"
        revoked = [
            r for r in audit(client, "", "success") if node_id in r["target"] and "revoke" in r["action"]
        ]
        assert revoked, "no audit record of the revocation"
