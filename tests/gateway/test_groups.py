"""Groups and memberships through the real gateway, inventory and auth."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.inventory import InventoryStack, audit_records, inventory_gateway
from tests.support.mistakes import wrong_bodies
from tests.support.stack import AuthStack
from tests.support.users import Users, http_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

WINDOW = {"cron": "30 2 * * sat,sun", "duration_seconds": 7200, "timezone": "Asia/Shanghai"}


@pytest.fixture(scope="module")
async def client(auth_stack: AuthStack, inventory: InventoryStack) -> AsyncIterator[httpx.AsyncClient]:
    async with inventory_gateway(auth_stack, inventory) as http:
        yield http


def unique(prefix: str = "g") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def create_group(client: httpx.AsyncClient, token: str, **fields: object) -> dict:
    response = await client.post(
        "/api/v1/groups", json={"name": unique(), **fields}, headers=http_auth(token)
    )
    assert response.status_code == 201, response.text
    return response.json()


_addresses = iter(range(1, 60000))


async def create_servers(client: httpx.AsyncClient, token: str, count: int) -> list[dict]:
    servers = []
    for _ in range(count):
        n = next(_addresses)
        body = {"ip_address": f"10.1.{n // 250}.{n % 250 + 1}", "category": "general"}
        response = await client.post("/api/v1/servers", json=body, headers=http_auth(token))
        assert response.status_code == 201, response.text
        servers.append(response.json())
    return servers


async def test_a_group_is_created_read_changed_and_deleted(client: httpx.AsyncClient, users: Users) -> None:
    name = unique("Web-")
    group = await create_group(
        client,
        users.operator,
        name=name,
        description="front ends",
        category="web",
        maintenance_window=WINDOW,
    )
    assert (group["name"], group["description"], group["category"]) == (name, "front ends", "web")
    assert group["maintenance_window"] == WINDOW and group["member_count"] == 0
    url = f"/api/v1/groups/{group['id']}"
    assert (await client.get(url, headers=http_auth(users.viewer))).json() == group

    window = {"cron": "0 */4 1-15 jan-jun 1-5", "duration_seconds": 60, "timezone": "UTC"}
    changed = await client.patch(
        url, json={"description": "", "maintenance_window": window}, headers=http_auth(users.operator)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["maintenance_window"] == window and changed.json()["description"] == ""
    cleared = await client.patch(
        url, json={"category": None, "maintenance_window": None}, headers=http_auth(users.operator)
    )
    assert cleared.json()["category"] is None and cleared.json()["maintenance_window"] is None
    assert cleared.json()["name"] == name

    assert (await client.delete(url, headers=http_auth(users.admin))).status_code == 204
    assert (await client.get(url, headers=http_auth(users.viewer))).status_code == 404


async def test_group_names_are_unique_regardless_of_case(client: httpx.AsyncClient, users: Users) -> None:
    first = await create_group(client, users.operator)
    again = await client.post(
        "/api/v1/groups", json={"name": f"  {first['name'].upper()} "}, headers=http_auth(users.operator)
    )
    assert again.status_code == 409 and first["id"] in again.json()["error"]["message"]
    other = await create_group(client, users.operator)
    renamed = await client.patch(
        f"/api/v1/groups/{other['id']}", json={"name": first["name"]}, headers=http_auth(users.operator)
    )
    assert renamed.status_code == 409
    same = await client.patch(
        f"/api/v1/groups/{first['id']}",
        json={"name": first["name"].upper()},
        headers=http_auth(users.operator),
    )
    assert same.status_code == 200 and same.json()["name"] == first["name"].upper()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "a,b"}, "','"),
        ({"name": "x" * 65}, "name"),
        ({"name": "ok", "description": "d" * 1025}, "description"),
        ({"name": "ok", "category": "mainframe"}, "category"),
        ({"name": "ok", "maintenance_window": {**WINDOW, "cron": "* * * *"}}, "5 fields"),
        ({"name": "ok", "maintenance_window": {**WINDOW, "cron": "61 * * * *"}}, "minute"),
        ({"name": "ok", "maintenance_window": {**WINDOW, "cron": "0 0 * foo *"}}, "month"),
        ({"name": "ok", "maintenance_window": {**WINDOW, "cron": "*/0 * * * *"}}, "step"),
        ({"name": "ok", "maintenance_window": {**WINDOW, "timezone": "Mars/Olympus"}}, "timezone"),
        ({"name": "ok", "maintenance_window": {**WINDOW, "timezone": "../etc/passwd"}}, "timezone"),
        ({"name": "ok", "maintenance_window": {**WINDOW, "duration_seconds": 59}}, "duration_seconds"),
        ({"name": "ok", "maintenance_window": {**WINDOW, "duration_seconds": 86401}}, "duration_seconds"),
    ],
)
async def test_bad_group_input_is_a_400_that_says_what_is_wrong(
    client: httpx.AsyncClient, users: Users, body: dict, says: str
) -> None:
    response = await client.post("/api/v1/groups", json=body, headers=http_auth(users.operator))
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]["message"]


async def test_unknown_and_malformed_group_ids(client: httpx.AsyncClient, users: Users) -> None:
    missing = f"/api/v1/groups/{uuid.uuid4()}"
    assert (await client.get(missing, headers=http_auth(users.viewer))).status_code == 404
    assert (await client.delete(missing, headers=http_auth(users.admin))).status_code == 404
    assert (await client.get(f"{missing}/members", headers=http_auth(users.viewer))).status_code == 404
    malformed = await client.get("/api/v1/groups/42", headers=http_auth(users.viewer))
    assert malformed.status_code == 400 and "group id must be a UUID" in malformed.json()["error"]["message"]


async def test_membership_is_idempotent(client: httpx.AsyncClient, users: Users) -> None:
    group = await create_group(client, users.operator)
    servers = await create_servers(client, users.operator, 3)
    members = f"/api/v1/groups/{group['id']}/members"
    ids = [server["id"] for server in servers[:2]]

    first = await client.post(members, json={"server_ids": ids}, headers=http_auth(users.operator))
    assert first.status_code == 200 and first.json() == {"added": 2}
    again = await client.post(members, json={"server_ids": [*ids, ids[0]]}, headers=http_auth(users.operator))
    assert again.status_code == 200 and again.json() == {"added": 0}
    unknown = str(uuid.uuid4())
    refused = await client.post(
        members, json={"server_ids": [servers[2]["id"], unknown]}, headers=http_auth(users.operator)
    )
    assert refused.status_code == 404 and unknown in refused.json()["error"]["message"]
    empty = await client.post(members, json={"server_ids": []}, headers=http_auth(users.operator))
    assert empty.status_code == 400

    listed = (await client.get(members, headers=http_auth(users.viewer))).json()
    assert sorted(s["id"] for s in listed["items"]) == sorted(ids) and listed["total"] == 2
    assert group["id"] in listed["items"][0]["group_ids"]
    assert (await client.get(f"/api/v1/groups/{group['id']}", headers=http_auth(users.viewer))).json()[
        "member_count"
    ] == 2

    for _ in range(2):
        removed = await client.delete(f"{members}/{ids[0]}", headers=http_auth(users.operator))
        assert removed.status_code == 204
    listed = (await client.get(members, headers=http_auth(users.viewer))).json()
    assert [s["id"] for s in listed["items"]] == [ids[1]]

    assert (
        await client.delete(f"/api/v1/groups/{group['id']}", headers=http_auth(users.operator))
    ).status_code == 204
    survivor = await client.get(f"/api/v1/servers/{ids[1]}", headers=http_auth(users.viewer))
    assert survivor.status_code == 200 and survivor.json()["group_ids"] == []


async def test_members_page_through_once_each(client: httpx.AsyncClient, users: Users) -> None:
    group = await create_group(client, users.operator)
    servers = await create_servers(client, users.operator, 12)
    members = f"/api/v1/groups/{group['id']}/members"
    body = {"server_ids": [s["id"] for s in servers]}
    assert (await client.post(members, json=body, headers=http_auth(users.operator))).json() == {"added": 12}
    seen, token = [], ""
    while True:
        page = await client.get(
            members, params={"page_size": 5, "page_token": token}, headers=http_auth(users.viewer)
        )
        seen += [item["id"] for item in page.json()["items"]]
        token = page.json()["next_page_token"]
        if not token:
            break
    assert sorted(seen) == sorted(s["id"] for s in servers) and len(seen) == 12


async def test_a_server_can_join_groups_when_it_is_created(client: httpx.AsyncClient, users: Users) -> None:
    first, second = await create_group(client, users.operator), await create_group(client, users.operator)
    body = {"ip_address": "198.51.100.200", "category": "container", "group_ids": [first["id"], second["id"]]}
    created = await client.post("/api/v1/servers", json=body, headers=http_auth(users.operator))
    assert created.status_code == 201, created.text
    assert sorted(created.json()["group_ids"]) == sorted([first["id"], second["id"]])
    unknown = str(uuid.uuid4())
    body = {"ip_address": "198.51.100.201", "category": "web", "group_ids": [unknown]}
    refused = await client.post("/api/v1/servers", json=body, headers=http_auth(users.operator))
    assert refused.status_code == 404 and unknown in refused.json()["error"]["message"]
    nothing = await client.get(
        "/api/v1/servers", params={"q": "198.51.100.201"}, headers=http_auth(users.viewer)
    )
    assert nothing.json()["total"] == 0


async def test_listing_groups_filters_and_pages(client: httpx.AsyncClient, users: Users) -> None:
    tag = unique("L")
    made = [
        await create_group(
            client, users.operator, name=f"{tag}-{i:02d}", category="web" if i % 2 else "database"
        )
        for i in range(9)
    ]
    seen, token = [], ""
    while True:
        params = {"q": tag.lower(), "page_size": 4, "page_token": token}
        page = (await client.get("/api/v1/groups", params=params, headers=http_auth(users.viewer))).json()
        assert page["total"] == 9
        seen += [item["name"] for item in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == [group["name"] for group in made]
    web = await client.get(
        "/api/v1/groups", params={"q": tag, "category": "web"}, headers=http_auth(users.viewer)
    )
    assert [g["name"] for g in web.json()["items"]] == [g["name"] for g in made[1::2]]


async def test_a_viewer_may_read_groups_but_not_change_them(client: httpx.AsyncClient, users: Users) -> None:
    group = await create_group(client, users.operator)
    (server,) = await create_servers(client, users.operator, 1)
    url = f"/api/v1/groups/{group['id']}"
    assert (await client.get("/api/v1/groups", headers=http_auth(users.viewer))).status_code == 200
    attempts = [
        ("group.create", "POST", "/api/v1/groups", {"name": unique()}),
        ("group.update", "PATCH", url, {"description": "mine"}),
        ("group.delete", "DELETE", url, None),
        ("group.member.add", "POST", f"{url}/members", {"server_ids": [server["id"]]}),
        ("group.member.remove", "DELETE", f"{url}/members/{server['id']}", None),
    ]
    for action, method, path, body in attempts:
        rid = request_id("inv")
        refused = await client.request(method, path, json=body, headers=http_auth(users.viewer, rid))
        assert refused.status_code == 403, (action, refused.text)
        (record,) = await audit_records(client, users.admin, rid)
        assert (record["action"], record["result"]) == (action, "denied")
    assert (await client.get(url, headers=http_auth(users.viewer))).json() == group


async def test_every_group_change_leaves_exactly_one_audit_record(
    client: httpx.AsyncClient, users: Users
) -> None:
    (server,) = await create_servers(client, users.operator, 1)
    rids = {
        action: request_id("inv")
        for action in (
            "group.create",
            "group.update",
            "group.member.add",
            "group.member.remove",
            "group.delete",
        )
    }
    created = await client.post(
        "/api/v1/groups", json={"name": unique()}, headers=http_auth(users.operator, rids["group.create"])
    )
    url = f"/api/v1/groups/{created.json()['id']}"
    calls = [
        ("group.update", "PATCH", url, {"maintenance_window": WINDOW}),
        ("group.member.add", "POST", f"{url}/members", {"server_ids": [server["id"]]}),
        ("group.member.remove", "DELETE", f"{url}/members/{server['id']}", None),
        ("group.delete", "DELETE", url, None),
    ]
    for action, method, path, body in calls:
        response = await client.request(
            method, path, json=body, headers=http_auth(users.operator, rids[action])
        )
        assert response.status_code < 300, (action, response.text)
    for action, rid in rids.items():
        (record,) = await audit_records(client, users.admin, rid)
        assert (record["action"], record["result"], record["target"]) == (
            action,
            "success",
            f"group:{created.json()['id']}",
        )
    (added,) = await audit_records(client, users.admin, rids["group.member.add"])
    assert server["id"] in added["reason"]


async def test_no_malformed_group_request_is_a_server_error(client: httpx.AsyncClient, users: Users) -> None:
    group = await create_group(client, users.operator)
    url = f"/api/v1/groups/{group['id']}"
    headers = {**http_auth(users.admin), "content-type": "application/json"}
    valid = {"name": "n", "description": "d", "category": "web", "maintenance_window": WINDOW}
    calls = [("POST", "/api/v1/groups", body) for body in wrong_bodies(valid)]
    calls += [("PATCH", url, body) for body in wrong_bodies(valid)]
    calls += [("POST", f"{url}/members", body) for body in wrong_bodies({"server_ids": [str(uuid.uuid4())]})]
    failures = []
    for method, path, body in calls:
        response = await client.request(
            method, path, content=body.encode("utf-8", "surrogatepass"), headers=headers
        )
        if response.status_code >= 500:
            failures.append((method, path, body[:80], response.status_code))
    for params in ({"q": "a\x00"}, {"page_token": "W1tbW1tbW1tb" * 300}, {"category": "x"}):
        for path in ("/api/v1/groups", f"{url}/members"):
            response = await client.get(path, params=params, headers=headers)
            if response.status_code >= 500:
                failures.append(("GET", path, str(params)[:80], response.status_code))
    assert failures == []


async def test_a_page_token_is_refused_with_other_filters(client: httpx.AsyncClient, users: Users) -> None:
    tag = unique("T")
    for i in range(3):
        await create_group(client, users.operator, name=f"{tag}-{i}")
    first = await client.get(
        "/api/v1/groups", params={"q": tag, "page_size": 1}, headers=http_auth(users.viewer)
    )
    token = first.json()["next_page_token"]
    other = await client.get(
        "/api/v1/groups", params={"q": tag[:-1], "page_token": token}, headers=http_auth(users.viewer)
    )
    assert other.status_code == 400 and "other filters" in other.json()["error"]["message"]
    same = await client.get(
        "/api/v1/groups",
        params={"q": tag, "page_size": 1, "page_token": token},
        headers=http_auth(users.viewer),
    )
    assert [g["name"] for g in same.json()["items"]] == [f"{tag}-1"]
