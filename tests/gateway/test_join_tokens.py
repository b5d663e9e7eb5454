"""Join tokens through the real gateway and auth: the one-time secret, the node's command line, limits, RBAC."""

from __future__ import annotations

import shlex
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from devstack.postgres import LocalPostgres
from tests.support.inventory import audit_records
from tests.support.mistakes import wrong_bodies
from tests.support.stack import (
    ADMIN_PASSWORD,
    AuthStack,
    gateway_client,
    isolated_gateway,
    redeem_join_token,
)
from tests.support.users import Users, http_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

URL = "/api/v1/join-tokens"
ENROLL_ADDRESS = "enroll.convoy.test:50058"


@pytest.fixture(scope="module")
async def client(auth_stack: AuthStack) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(
        auth_stack.target, auth_stack.pki_dir, agent_enroll_address=ENROLL_ADDRESS
    ) as http:
        yield http


def service_ca_fingerprint(auth: AuthStack) -> str:
    """What an agent pins: the SHA-256 of the service CA certificate, computed here independently."""
    certificate = x509.load_pem_x509_certificate((auth.pki_dir / "ca.pem").read_bytes())
    return "sha256:" + certificate.fingerprint(hashes.SHA256()).hex()


async def create(client: httpx.AsyncClient, token: str, rid: str = "", **body: object) -> httpx.Response:
    return await client.post(URL, json=body, headers=http_auth(token, rid))


async def test_an_operator_gets_the_token_once_with_the_exact_enroll_command(
    client: httpx.AsyncClient, users: Users, auth_stack: AuthStack
) -> None:
    rid = request_id("jt")
    response = await create(client, users.operator, rid)
    assert response.status_code == 201, response.text
    created = response.json()
    token, fingerprint = created["token"], created["ca_fingerprint"]
    assert token.startswith("cvj_") and len(token) == 4 + 43
    assert fingerprint == service_ca_fingerprint(auth_stack)
    assert created["command"] == (
        f"convoy-agent enroll --server {ENROLL_ADDRESS} --token {token} --ca-fingerprint {fingerprint}"
    )
    assert shlex.split(created["command"])[2:] == [
        "--server",
        ENROLL_ADDRESS,
        "--token",
        token,
        "--ca-fingerprint",
        fingerprint,
    ]
    join_token = created["join_token"]
    assert (join_token["max_uses"], join_token["uses"], join_token["revoked"]) == (1, 0, False)
    assert join_token["server_id"] == "" and join_token["group_ids"] == []
    assert join_token["created_by"] == f"user:{users.operator_name}"
    assert join_token["created_at"].endswith("Z") and join_token["expires_at"].endswith("Z")
    lifetime = datetime.fromisoformat(join_token["expires_at"]) - datetime.fromisoformat(
        join_token["created_at"]
    )
    assert lifetime.total_seconds() == 1800

    (record,) = await audit_records(client, users.admin, rid)
    assert (record["action"], record["result"]) == ("join_token.create", "success")
    assert record["target"] == f"join_token:{join_token['id']}"
    assert token not in str(record)

    listed = await client.get(URL, headers=http_auth(users.admin))
    assert listed.status_code == 200, listed.text
    (mine,) = [item for item in listed.json()["items"] if item["id"] == join_token["id"]]
    assert mine == join_token
    assert token not in listed.text


async def test_a_token_for_a_known_server_and_for_groups_with_a_chosen_lifetime(
    client: httpx.AsyncClient, users: Users
) -> None:
    server_id, groups = str(uuid.uuid4()), [str(uuid.uuid4()), str(uuid.uuid4())]
    for_server = await create(client, users.admin, server_id=server_id, ttl_seconds=900)
    assert for_server.status_code == 201, for_server.text
    assert for_server.json()["join_token"]["server_id"] == server_id
    for_groups = await create(client, users.operator, group_ids=groups, ttl_seconds=3600, max_uses=1000)
    assert for_groups.status_code == 201, for_groups.text
    made = for_groups.json()["join_token"]
    assert (made["group_ids"], made["max_uses"]) == (groups, 1000)
    lifetime = datetime.fromisoformat(made["expires_at"]) - datetime.fromisoformat(made["created_at"])
    assert lifetime.total_seconds() == 3600
    # Every node enrolled with it would get the same identity.
    shared = await create(client, users.operator, server_id=server_id, max_uses=2)
    assert shared.status_code == 400 and "only once" in shared.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        # Bounds are auth's, with auth's reason.
        ({"ttl_seconds": 899}, "between 900 and 3600"),
        ({"ttl_seconds": 3601}, "between 900 and 3600"),
        ({"max_uses": 1001}, "between 1 and 1000"),
        # Types and signs are the gateway's.
        ({"ttl_seconds": -1}, "ttl_seconds"),
        ({"ttl_seconds": 2**40}, "ttl_seconds"),
        ({"ttl_seconds": "soon"}, "ttl_seconds"),
        ({"max_uses": -1}, "max_uses"),
        ({"max_uses": 1.5}, "max_uses"),
        ({"server_id": "not-a-uuid"}, "server id"),
        ({"group_ids": ["nope"]}, "group id"),
        ({"group_ids": "x"}, "group_ids"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_token_requests_are_a_400_that_says_why(
    client: httpx.AsyncClient, users: Users, body: dict, says: str
) -> None:
    response = await create(client, users.operator, **body)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]["message"]


async def test_zero_or_nothing_means_the_defaults_of_auth(client: httpx.AsyncClient, users: Users) -> None:
    for body in ({}, {"ttl_seconds": 0, "max_uses": 0}):
        response = await create(client, users.operator, **body)
        assert response.status_code == 201, response.text
        made = response.json()["join_token"]
        lifetime = datetime.fromisoformat(made["expires_at"]) - datetime.fromisoformat(made["created_at"])
        assert (lifetime.total_seconds(), made["max_uses"]) == (1800, 1)


async def test_the_bounds_are_the_ones_auth_is_configured_with(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    tuned = {
        "join_token_min_seconds": 120,
        "join_token_default_seconds": 600,
        "join_token_max_seconds": 7200,
        "join_token_max_uses": 5000,
    }
    async with isolated_gateway(postgres, pki_dir, tmp_path, **tuned) as (tuned_client, _):
        login = await tuned_client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        admin = login.json()["access_token"]
        for body, seconds, uses in (({}, 600, 1), ({"ttl_seconds": 7200, "max_uses": 5000}, 7200, 5000)):
            response = await create(tuned_client, admin, **body)
            assert response.status_code == 201, response.text
            made = response.json()["join_token"]
            lifetime = datetime.fromisoformat(made["expires_at"]) - datetime.fromisoformat(made["created_at"])
            assert (lifetime.total_seconds(), made["max_uses"]) == (seconds, uses)
        for body, says in (
            ({"ttl_seconds": 119}, "between 120 and 7200"),
            ({"ttl_seconds": 7201}, "between 120 and 7200"),
            ({"max_uses": 5001}, "between 1 and 5000"),
        ):
            refused = await create(tuned_client, admin, **body)
            assert refused.status_code == 400, refused.text
            assert says in refused.json()["error"]["message"]


async def test_a_revoked_token_is_listed_as_revoked_and_unknown_ids_are_refused(
    client: httpx.AsyncClient, users: Users
) -> None:
    made = (await create(client, users.operator)).json()["join_token"]
    rid = request_id("jt")
    gone = await client.delete(f"{URL}/{made['id']}", headers=http_auth(users.operator, rid))
    assert gone.status_code == 204, gone.text
    (record,) = await audit_records(client, users.admin, rid)
    assert (record["action"], record["result"]) == ("join_token.revoke", "success")
    listed = await client.get(URL, params={"page_size": 500}, headers=http_auth(users.operator))
    (mine,) = [item for item in listed.json()["items"] if item["id"] == made["id"]]
    assert mine["revoked"] is True
    unknown = await client.delete(f"{URL}/{uuid.uuid4()}", headers=http_auth(users.operator))
    assert unknown.status_code == 404, unknown.text
    malformed = await client.delete(f"{URL}/not-a-uuid", headers=http_auth(users.operator))
    assert malformed.status_code == 400 and "join token id" in malformed.json()["error"]["message"]


async def test_listing_pages_through_every_token_once(client: httpx.AsyncClient, users: Users) -> None:
    made = {(await create(client, users.operator)).json()["join_token"]["id"] for _ in range(7)}
    seen: list[str] = []
    token = ""
    for _ in range(100):
        page = await client.get(
            URL, params={"page_size": 3, "page_token": token}, headers=http_auth(users.operator)
        )
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= 3
        seen += [item["id"] for item in page.json()["items"]]
        token = page.json()["next_page_token"]
        if not token:
            break
    assert made <= set(seen) and len(seen) == len(set(seen))
    for params in ({"page_size": 501}, {"page_size": -1}, {"page_token": "garbage!"}):
        bad = await client.get(URL, params=params, headers=http_auth(users.operator))
        assert bad.status_code == 400, (params, bad.text)


async def test_a_viewer_may_not_touch_join_tokens_and_each_refusal_is_audited(
    client: httpx.AsyncClient, users: Users
) -> None:
    made = (await create(client, users.operator)).json()["join_token"]
    attempts = [
        ("join_token.create", "POST", URL, {}),
        ("join_token.list", "GET", URL, None),
        ("join_token.revoke", "DELETE", f"{URL}/{made['id']}", None),
    ]
    for action, method, url, body in attempts:
        rid = request_id("jt")
        refused = await client.request(method, url, json=body, headers=http_auth(users.viewer, rid))
        assert refused.status_code == 403, refused.text
        assert "operator" in refused.json()["error"]["message"]
        (record,) = await audit_records(client, users.admin, rid)
        assert (record["action"], record["result"]) == (action, "denied")
        assert record["actor"] == f"user:{users.viewer_name}"
    assert (await client.post(URL, json={})).status_code == 401


async def test_wrong_bodies_and_parameters_are_client_errors(client: httpx.AsyncClient, users: Users) -> None:
    headers = {**http_auth(users.operator), "Content-Type": "application/json"}
    valid = {"server_id": "", "group_ids": [], "ttl_seconds": 1800, "max_uses": 1}
    failures = []
    for body in wrong_bodies(valid):
        response = await client.post(URL, content=body.encode("utf-8", "surrogatepass"), headers=headers)
        if response.status_code >= 500:
            failures.append((body[:80], response.status_code))
    for params in ({"page_size": "x"}, {"page_size": 10**30}, {"page_token": "x" * 5000}):
        response = await client.get(URL, params=params, headers=headers)
        if response.status_code >= 500:
            failures.append((str(params)[:80], response.status_code))
    for token_id in ("%00", "x" * 5000, "a%0Ab", "é漢字"):
        response = await client.delete(f"{URL}/{token_id}", headers=headers)
        if response.status_code >= 500:
            failures.append((token_id[:20], response.status_code))
    assert failures == []


async def test_the_token_from_the_api_enrolls_one_node_once(
    client: httpx.AsyncClient, users: Users, auth_stack: AuthStack
) -> None:
    group_id = str(uuid.uuid4())
    created = (await create(client, users.operator, group_ids=[group_id])).json()
    node, reply = await redeem_join_token(auth_stack, created["token"], hostname="web-07")
    assert list(reply.group_ids) == [group_id] and reply.server_id == node.node_id
    issuer = x509.load_pem_x509_certificate(reply.ca_certificate_pem.encode())
    assert "sha256:" + issuer.fingerprint(hashes.SHA256()).hex() == created["ca_fingerprint"]
    listed = await client.get(URL, headers=http_auth(users.operator))
    (mine,) = [item for item in listed.json()["items"] if item["id"] == created["join_token"]["id"]]
    assert (mine["uses"], mine["max_uses"]) == (1, 1)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await redeem_join_token(auth_stack, created["token"])
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
