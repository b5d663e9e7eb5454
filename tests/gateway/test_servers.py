"""Servers, installed software and target resolution through the real gateway, inventory and auth."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from tests.support.inventory import InventoryStack, audit_records, inventory_gateway
from tests.support.mistakes import wrong_bodies
from tests.support.stack import AuthStack, superuser_connection
from tests.support.users import Users, http_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def client(auth_stack: AuthStack, inventory: InventoryStack) -> AsyncIterator[httpx.AsyncClient]:
    async with inventory_gateway(auth_stack, inventory) as http:
        yield http


_next_ip = iter(range(1, 60000))


def fresh_ip() -> str:
    """An address no other test of the module uses."""
    n = next(_next_ip)
    return f"10.{uuid.uuid4().int % 200 + 20}.{n // 250}.{n % 250 + 1}"


async def create_server(client: httpx.AsyncClient, token: str, **fields: object) -> dict:
    body = {"ip_address": fresh_ip(), "category": "web", **fields}
    response = await client.post("/api/v1/servers", json=body, headers=http_auth(token))
    assert response.status_code == 201, response.text
    return response.json()


async def record_facts(inventory: InventoryStack, server_id: str, family: int, **os: str) -> None:
    """What the scheduler does when an agent reports: a service certificate and no user token."""
    async with inventory.stub("scheduler") as stub:
        facts = inv_pb.OsFacts(package_family=family, **os)
        await stub.RecordFacts(inv_pb.RecordFactsRequest(server_id=server_id, os=facts), timeout=10)


async def test_a_server_is_created_read_changed_and_deleted(client: httpx.AsyncClient, users: Users) -> None:
    body = {
        "hostname": "Web-01.Example.com.",
        "ip_address": " 2001:DB8:0:0::17 ",
        "category": "data-processing",
        "labels": {"env": "prod", "team": "blue"},
    }
    created = await client.post("/api/v1/servers", json=body, headers=http_auth(users.operator))
    assert created.status_code == 201, created.text
    server = created.json()
    assert server["hostname"] == "web-01.example.com"
    assert server["ip_address"] == "2001:db8::17"
    assert (server["category"], server["status"]) == ("data-processing", "pending")
    assert server["labels"] == {"env": "prod", "team": "blue"}
    assert server["os"]["package_family"] is None and server["last_seen"] is None
    assert server["created_at"].endswith("Z")

    url = f"/api/v1/servers/{server['id']}"
    assert (await client.get(url, headers=http_auth(users.viewer))).json() == server
    change = {"hostname": "web-02.example.com", "labels": {"env": "staging"}}
    changed = await client.patch(url, json=change, headers=http_auth(users.operator))
    assert changed.status_code == 200, changed.text
    assert changed.json()["hostname"] == "web-02.example.com"
    assert changed.json()["labels"] == {"env": "staging"}
    assert changed.json()["ip_address"] == "2001:db8::17"
    cleared = await client.patch(url, json={"labels": {}}, headers=http_auth(users.admin))
    assert cleared.json()["labels"] == {}

    assert (await client.delete(url, headers=http_auth(users.operator))).status_code == 204
    gone = await client.get(url, headers=http_auth(users.viewer))
    assert gone.status_code == 404 and server["id"] in gone.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"ip_address": "10.0.0.300", "category": "web"}, "ip_address"),
        ({"ip_address": "not-an-ip", "category": "web"}, "ip_address"),
        ({"ip_address": "0.0.0.0", "category": "web"}, "ip_address"),
        ({"ip_address": "10.9.9.9", "category": "mainframe"}, "category"),
        ({"ip_address": "10.9.9.9"}, "category"),
        ({"ip_address": "10.9.9.9", "category": "web", "hostname": "-bad-.example"}, "hostname"),
        ({"ip_address": "10.9.9.9", "category": "web", "hostname": "a" * 64 + ".example"}, "hostname"),
        ({"ip_address": "10.9.9.9", "category": "web", "labels": {"bad key": "x"}}, "label key"),
        ({"ip_address": "10.9.9.9", "category": "web", "labels": {"arch": "x"}}, "reserved"),
        ({"ip_address": "10.9.9.9", "category": "web", "labels": {"env": "a,b"}}, "','"),
        ({"ip_address": "10.9.9.9", "category": "web", "labels": {f"k{i}": "v" for i in range(65)}}, "64"),
        ({"ip_address": "10.9.9.9", "category": "web", "group_ids": ["nope"]}, "group id"),
        ({"ip_address": "10.9.9.9", "category": "web", "colour": "red"}, "colour"),
    ],
)
async def test_bad_server_input_is_a_400_that_says_what_is_wrong(
    client: httpx.AsyncClient, users: Users, body: dict, says: str
) -> None:
    response = await client.post("/api/v1/servers", json=body, headers=http_auth(users.operator))
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]["message"]


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, users: Users) -> None:
    unknown = await client.get(f"/api/v1/servers/{uuid.uuid4()}", headers=http_auth(users.viewer))
    assert unknown.status_code == 404
    for method in ("GET", "DELETE"):
        malformed = await client.request(method, "/api/v1/servers/not-a-uuid", headers=http_auth(users.admin))
        assert malformed.status_code == 400
        assert "server id must be a UUID" in malformed.json()["error"]["message"]
    patch = await client.patch(
        f"/api/v1/servers/{uuid.uuid4()}", json={"hostname": "x"}, headers=http_auth(users.admin)
    )
    assert patch.status_code == 404


async def test_a_second_server_with_the_same_ip_is_refused_naming_the_first(
    client: httpx.AsyncClient, users: Users
) -> None:
    first = await create_server(client, users.operator, ip_address="192.0.2.77")
    again = await client.post(
        "/api/v1/servers",
        json={"ip_address": "192.0.2.77", "category": "general"},
        headers=http_auth(users.operator),
    )
    assert again.status_code == 409
    assert first["id"] in again.json()["error"]["message"]
    other = await create_server(client, users.operator)
    moved = await client.patch(
        f"/api/v1/servers/{other['id']}",
        json={"ip_address": "192.0.2.77"},
        headers=http_auth(users.operator),
    )
    assert moved.status_code == 409 and first["id"] in moved.json()["error"]["message"]


async def test_a_viewer_may_read_but_not_change_and_the_denial_is_audited(
    client: httpx.AsyncClient, users: Users
) -> None:
    assert (await client.get("/api/v1/servers", headers=http_auth(users.viewer))).status_code == 200
    server = await create_server(client, users.operator)
    attempts = [
        ("server.create", "POST", "/api/v1/servers", {"ip_address": fresh_ip(), "category": "web"}),
        ("server.update", "PATCH", f"/api/v1/servers/{server['id']}", {"hostname": "x.example"}),
        ("server.delete", "DELETE", f"/api/v1/servers/{server['id']}", None),
    ]
    for action, method, url, body in attempts:
        rid = request_id("inv")
        refused = await client.request(method, url, json=body, headers=http_auth(users.viewer, rid))
        assert refused.status_code == 403, refused.text
        (record,) = await audit_records(client, users.admin, rid)
        assert (record["action"], record["result"]) == (action, "denied")
        assert record["actor"] == f"user:{users.viewer_name}"
    still = await client.get(f"/api/v1/servers/{server['id']}", headers=http_auth(users.viewer))
    assert still.json()["hostname"] == server["hostname"]
    assert (await client.get("/api/v1/servers")).status_code == 401


async def test_every_server_change_leaves_exactly_one_audit_record(
    client: httpx.AsyncClient, users: Users
) -> None:
    rids = {action: request_id("inv") for action in ("server.create", "server.update", "server.delete")}
    body = {"ip_address": fresh_ip(), "category": "database"}
    created = await client.post(
        "/api/v1/servers", json=body, headers=http_auth(users.operator, rids["server.create"])
    )
    url = f"/api/v1/servers/{created.json()['id']}"
    await client.patch(
        url, json={"category": "web"}, headers=http_auth(users.operator, rids["server.update"])
    )
    await client.delete(url, headers=http_auth(users.operator, rids["server.delete"]))
    for action, rid in rids.items():
        (record,) = await audit_records(client, users.admin, rid)
        assert (record["action"], record["result"]) == (action, "success")
        assert record["target"] == f"server:{created.json()['id']}"
        assert record["actor"] == f"user:{users.operator_name}" and record["source"] == "inventory"


async def test_listing_pages_through_every_match_once_in_hostname_order(
    client: httpx.AsyncClient, users: Users
) -> None:
    prefix = f"pg{uuid.uuid4().hex[:8]}"
    made = [await create_server(client, users.operator, hostname=f"{prefix}-{i:02d}.test") for i in range(30)]
    seen, token, pages = [], "", 0
    while True:
        params = {"q": prefix.upper(), "page_size": 7, "page_token": token}
        page = (await client.get("/api/v1/servers", params=params, headers=http_auth(users.viewer))).json()
        assert page["total"] == 30 and len(page["items"]) <= 7
        seen += [item["hostname"] for item in page["items"]]
        pages, token = pages + 1, page["next_page_token"]
        if not token:
            break
    assert pages == 5
    assert seen == sorted(server["hostname"] for server in made)
    too_big = await client.get("/api/v1/servers", params={"page_size": 501}, headers=http_auth(users.viewer))
    assert too_big.status_code == 400
    bad_token = await client.get(
        "/api/v1/servers", params={"page_token": "garbage!"}, headers=http_auth(users.viewer)
    )
    assert bad_token.status_code == 400


async def test_list_filters(client: httpx.AsyncClient, users: Users, inventory: InventoryStack) -> None:
    tag = f"f{uuid.uuid4().hex[:8]}"
    web = await create_server(client, users.operator, hostname=f"{tag}-web.test", labels={"tag": tag})
    db = await create_server(
        client,
        users.operator,
        hostname=f"{tag}-db.test",
        category="database",
        labels={"tag": tag, "tier": "1"},
    )
    await record_facts(inventory, db["id"], inv_pb.PACKAGE_FAMILY_RPM, os_id="openEuler", arch="aarch64")
    group = await client.post("/api/v1/groups", json={"name": tag}, headers=http_auth(users.operator))
    members = {"server_ids": [web["id"]]}
    await client.post(
        f"/api/v1/groups/{group.json()['id']}/members", json=members, headers=http_auth(users.operator)
    )

    async def hostnames(**params: str) -> list[str]:
        response = await client.get(
            "/api/v1/servers", params={"q": tag, **params}, headers=http_auth(users.viewer)
        )
        assert response.status_code == 200, response.text
        return [item["hostname"] for item in response.json()["items"]]

    assert await hostnames() == [db["hostname"], web["hostname"]]
    assert await hostnames(category="database") == [db["hostname"]]
    assert await hostnames(os_family="rpm") == [db["hostname"]]
    assert await hostnames(os_family="deb") == []
    assert await hostnames(status="pending") == [db["hostname"], web["hostname"]]
    assert await hostnames(group_id=group.json()["id"]) == [web["hostname"]]
    assert await hostnames(label="tier=1") == [db["hostname"]]
    assert await hostnames(label=f"tag={tag},tier!=1") == [web["hostname"]]
    assert await hostnames(label="os_id=openeuler,arch=aarch64") == [db["hostname"]]
    assert await hostnames(label=f"group={tag.upper()}") == [web["hostname"]]
    by_ip = await client.get(
        "/api/v1/servers", params={"q": web["ip_address"]}, headers=http_auth(users.viewer)
    )
    assert [item["id"] for item in by_ip.json()["items"]] == [web["id"]]
    for bad in ({"status": "sleeping"}, {"label": "tier"}, {"group_id": "x"}):
        response = await client.get("/api/v1/servers", params=bad, headers=http_auth(users.viewer))
        assert response.status_code == 400, (bad, response.text)
    unknown = await client.get(
        "/api/v1/servers", params={"group_id": str(uuid.uuid4())}, headers=http_auth(users.viewer)
    )
    assert unknown.status_code == 404


async def test_search_treats_wildcards_literally(client: httpx.AsyncClient, users: Users) -> None:
    tag = f"w{uuid.uuid4().hex[:8]}"
    await create_server(client, users.operator, hostname=f"{tag}-a.test")
    for pattern in ("%", "_", f"{tag}%a", f"{tag}_a"):
        response = await client.get("/api/v1/servers", params={"q": pattern}, headers=http_auth(users.viewer))
        assert response.status_code == 200
        assert response.json()["items"] == [], pattern


async def test_installed_software_is_replaced_as_a_whole(
    client: httpx.AsyncClient, users: Users, inventory: InventoryStack
) -> None:
    server = await create_server(client, users.operator)
    deb = inv_pb.PACKAGE_FAMILY_DEB

    async def report(*software: tuple[str, str]) -> None:
        items = [inv_pb.InstalledSoftware(name=n, version=v, package_family=deb) for n, v in software]
        async with inventory.stub("scheduler") as stub:
            await stub.RecordInstalled(
                inv_pb.RecordInstalledRequest(server_id=server["id"], software=items), timeout=10
            )

    async def software() -> list[tuple[str, str, str | None]]:
        url = f"/api/v1/servers/{server['id']}/software"
        response = await client.get(url, headers=http_auth(users.viewer))
        assert response.status_code == 200, response.text
        return [(i["name"], i["version"], i["source"]) for i in response.json()["items"]]

    assert await software() == []
    await report(("nginx", "1.24.0"), ("redis", "7.2.4"))
    assert await software() == [("nginx", "1.24.0", "agent_report"), ("redis", "7.2.4", "agent_report")]
    await report(("nginx", "1.26.1"), ("postgresql", "16.3"))
    assert await software() == [("nginx", "1.26.1", "agent_report"), ("postgresql", "16.3", "agent_report")]
    missing = await client.get(f"/api/v1/servers/{uuid.uuid4()}/software", headers=http_auth(users.viewer))
    assert missing.status_code == 404


async def test_targets_resolve_to_live_servers(
    client: httpx.AsyncClient, users: Users, inventory: InventoryStack
) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    rpm_web = await create_server(client, users.operator, hostname=f"{tag}-1.test", labels={"tag": tag})
    deb_web = await create_server(
        client, users.operator, hostname=f"{tag}-2.test", labels={"tag": tag, "dc": "sh"}
    )
    rpm_db = await create_server(
        client, users.operator, hostname=f"{tag}-3.test", category="database", labels={"tag": tag}
    )
    revoked = await create_server(client, users.operator, hostname=f"{tag}-4.test", labels={"tag": tag})
    for server, family in ((rpm_web, inv_pb.PACKAGE_FAMILY_RPM), (deb_web, inv_pb.PACKAGE_FAMILY_DEB)):
        await record_facts(inventory, server["id"], family)
    await record_facts(inventory, rpm_db["id"], inv_pb.PACKAGE_FAMILY_RPM)
    await record_facts(inventory, revoked["id"], inv_pb.PACKAGE_FAMILY_RPM)
    async with superuser_connection(inventory.database_url) as db:
        await db.execute(
            "UPDATE inventory.servers SET status = 'revoked' WHERE id = $1", uuid.UUID(revoked["id"])
        )
    group = (
        await client.post("/api/v1/groups", json={"name": tag}, headers=http_auth(users.operator))
    ).json()
    ids = {"server_ids": [rpm_web["id"], deb_web["id"], revoked["id"]]}
    await client.post(f"/api/v1/groups/{group['id']}/members", json=ids, headers=http_auth(users.operator))

    async def resolve(body: dict) -> httpx.Response:
        return await client.post("/api/v1/targets/resolve", json=body, headers=http_auth(users.viewer))

    async def names(body: dict) -> list[str]:
        response = await resolve(body)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == len(response.json()["items"])
        return [item["hostname"] for item in response.json()["items"] if item["hostname"].startswith(tag)]

    assert await names({"server_id": rpm_db["id"]}) == [rpm_db["hostname"]]
    assert await names({"server_id": revoked["id"]}) == []
    assert await names({"group_id": group["id"]}) == [rpm_web["hostname"], deb_web["hostname"]]
    assert await names({"all": True}) == [rpm_web["hostname"], deb_web["hostname"], rpm_db["hostname"]]
    assert await names({"selector": f"os_family=rpm,category=web,tag={tag}"}) == [rpm_web["hostname"]]
    assert await names({"selector": "dc=sh"}) == [deb_web["hostname"]]
    assert await names({"selector": f"tag={tag}, dc != sh ,group={tag}"}) == [rpm_web["hostname"]]

    for body, status, says in [
        ({"selector": "os_family=solaris"}, 400, "os_family"),
        ({"selector": "category"}, 400, "key=value"),
        ({"selector": ""}, 400, "empty"),
        ({"selector": f"group=no-such-{tag}"}, 404, "no group"),
        ({"server_id": str(uuid.uuid4())}, 404, "does not exist"),
        ({"group_id": str(uuid.uuid4())}, 404, "does not exist"),
        ({"group_id": "12"}, 400, "group id"),
        ({"all": True, "selector": "dc=sh"}, 400, "exactly one"),
        ({}, 400, "exactly one"),
        ({"all": False}, 400, "all"),
    ]:
        response = await resolve(body)
        assert response.status_code == status, (body, response.text)
        assert says in response.json()["error"]["message"], (body, response.text)


async def test_no_malformed_server_request_is_a_server_error(client: httpx.AsyncClient, users: Users) -> None:
    server = await create_server(client, users.operator)
    headers = {**http_auth(users.admin), "content-type": "application/json"}
    valid = {
        "ip_address": "10.9.9.9",
        "category": "web",
        "hostname": "h",
        "labels": {"a": "b"},
        "group_ids": [],
    }
    calls = [("POST", "/api/v1/servers", body) for body in wrong_bodies(valid)]
    calls += [("PATCH", f"/api/v1/servers/{server['id']}", body) for body in wrong_bodies(valid)]
    calls += [("POST", "/api/v1/targets/resolve", body) for body in wrong_bodies({"selector": "a=b"})]
    failures = []
    for method, url, body in calls:
        response = await client.request(
            method, url, content=body.encode("utf-8", "surrogatepass"), headers=headers
        )
        if response.status_code >= 500:
            failures.append((method, url, body[:80], response.status_code))
    for params in (
        {"page_size": "x"},
        {"page_size": 10**30},
        {"page_token": "x" * 5000},
        {"label": "a=\x00"},
    ):
        response = await client.get("/api/v1/servers", params=params, headers=headers)
        if response.status_code >= 500:
            failures.append(("GET", "/api/v1/servers", str(params)[:80], response.status_code))
    assert failures == []


async def test_a_search_for_an_address_finds_it_however_it_is_written(
    client: httpx.AsyncClient, users: Users
) -> None:
    v6 = await create_server(client, users.operator, ip_address="2001:db8:77::5")
    v4 = await create_server(client, users.operator, ip_address="192.0.2.199")
    for query, expected in (
        ("2001:DB8:77:0:0:0:0:5", v6),
        ("2001:0db8:0077::0005", v6),
        ("::ffff:192.0.2.199", v4),
        ("2001:db8:77:0::6", None),
    ):
        response = await client.get("/api/v1/servers", params={"q": query}, headers=http_auth(users.viewer))
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()["items"]] == ([expected["id"]] if expected else []), (
            query
        )


async def test_selectors_find_groups_by_any_case_of_their_name(
    client: httpx.AsyncClient, users: Users
) -> None:
    tag = uuid.uuid4().hex[:8]
    server = await create_server(client, users.operator, labels={"tag": tag})
    for name in (f"İstanbul-{tag}", f"Ärzte-{tag}"):
        group = await client.post("/api/v1/groups", json={"name": name}, headers=http_auth(users.operator))
        assert group.status_code == 201, group.text
        members = {"server_ids": [server["id"]]}
        await client.post(
            f"/api/v1/groups/{group.json()['id']}/members", json=members, headers=http_auth(users.operator)
        )
        for spelling in (name, name.upper()):
            resolved = await client.post(
                "/api/v1/targets/resolve",
                json={"selector": f"group={spelling}"},
                headers=http_auth(users.viewer),
            )
            assert resolved.status_code == 200, (spelling, resolved.text)
            assert [item["id"] for item in resolved.json()["items"]] == [server["id"]], spelling
