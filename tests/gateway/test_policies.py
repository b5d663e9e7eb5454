"""Sync policies and compliance through the real gateway, scheduler, inventory, catalog, transfer and auth:
create, read, list, change and delete, conflicts and bad input as 4xx with reasons, roles, compliance pages
and the fleet summary, and compliance events on the event stream (the reconciler is off: the compliance
rows and events are written straight into the scheduler's database)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from devstack.postgres import LocalPostgres
from services.gateway.app import create_app
from services.scheduler.events import Changes
from services.scheduler.messages import compliance_to_proto
from services.scheduler.models import Compliance
from tests.gateway.test_deployments import Fleet, make_fleet
from tests.gateway.test_events import gateway_settings, served, watch
from tests.support.fullstack import FullStack, full_stack
from tests.support.inventory import audit_records
from tests.support.mistakes import wrong_bodies
from tests.support.stack import AuthStack
from tests.support.users import Users, http_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

URL = "/api/v1/policies"


@pytest.fixture(scope="module")
async def stack(
    postgres: LocalPostgres, auth_stack: AuthStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FullStack]:
    async with full_stack(
        postgres, auth_stack, tmp_path_factory.mktemp("policies"), scheduler={"with_reconciler": False}
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def fleet(stack: FullStack, users: Users, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    """Two deb nodes and an rpm node in a group, and a deb package (1.0-1) of their software."""
    return await make_fleet(stack, users, tmp_path_factory.mktemp("fleet"), "pol")


async def software_of(stack: FullStack, users: Users, fleet: Fleet) -> str:
    response = await stack.client.get(f"/api/v1/packages/{fleet.package_id}", headers=http_auth(users.viewer))
    return response.json()["software_name"]


def body(name: str, software: str, target: dict, **fields: object) -> dict:
    return {"name": name, "target": target, "software_name": software, "version": "latest", **fields}


async def post(stack: FullStack, token: str, payload: dict, rid: str = "") -> dict:
    response = await stack.client.post(URL, json=payload, headers=http_auth(token, rid))
    assert response.status_code == 201, response.text
    return response.json()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_a_policy_is_created_read_listed_changed_and_deleted(
    stack: FullStack, users: Users, fleet: Fleet
) -> None:
    software = await software_of(stack, users, fleet)
    rid = request_id("pol")
    payload = body(
        unique("keep"),
        software,
        {"group_id": fleet.group_id},
        version="1.0-1",
        strategy={"batch_size": 1},
        mode="report",
    )
    policy = await post(stack, users.operator, payload, rid)
    assert {key: policy[key] for key in ("name", "software_name", "version", "state", "mode", "enabled")} == {
        "name": payload["name"],
        "software_name": software,
        "version": "1.0-1",
        "state": "present",
        "mode": "report",
        "enabled": True,
    }
    assert policy["target"]["group_id"] == fleet.group_id and policy["strategy"]["batch_size"] == 1
    assert policy["created_by"] == users.operator_name and policy["created_at"].endswith("Z")
    (record,) = await audit_records(stack.client, users.admin, rid)
    assert record["action"] == "policy.create" and record["target"] == f"policy:{policy['id']}"

    viewer = http_auth(users.viewer)
    got = await stack.client.get(f"{URL}/{policy['id']}", headers=viewer)
    assert got.status_code == 200 and got.json() == policy
    listed = await stack.client.get(URL, params={"software_name": software, "mode": "report"}, headers=viewer)
    assert [item["id"] for item in listed.json()["items"]] == [policy["id"]] and listed.json()["total"] == 1

    patched = await stack.client.patch(
        f"{URL}/{policy['id']}",
        json={"version": "latest", "enabled": False},
        headers=http_auth(users.operator),
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["version"], patched.json()["enabled"], patched.json()["mode"]) == (
        "latest",
        False,
        "report",
    )
    absent = await stack.client.patch(
        f"{URL}/{policy['id']}", json={"state": "absent"}, headers=http_auth(users.operator)
    )
    assert (absent.json()["state"], absent.json()["version"]) == ("absent", None)

    deleted = await stack.client.delete(f"{URL}/{policy['id']}", headers=http_auth(users.operator))
    assert deleted.status_code == 204
    assert (await stack.client.get(f"{URL}/{policy['id']}", headers=viewer)).status_code == 404


async def test_mistakes_and_contradictions_are_4xx_with_reasons(
    stack: FullStack, users: Users, fleet: Fleet
) -> None:
    software = await software_of(stack, users, fleet)
    group = {"group_id": fleet.group_id}
    headers = http_auth(users.operator)
    first = await post(stack, users.operator, body(unique("first"), software, group, version="1.0-1"))
    node = fleet.deb_nodes[0]
    cases = [
        (body(unique("x"), software, {"server_id": node["id"]}), 409, first["name"]),
        (body(first["name"].upper(), software, group, version="1.0-1"), 409, first["id"]),
        (body(unique("x"), software, group, state="absent"), 400, "state absent takes no version"),
        (body(unique("x"), software, group, version=None), 400, "needs exact_version or latest"),
        (body(unique("x"), software, group, version="7.7"), 404, "at version '7.7'"),
        (body(unique("x"), software, {"group_id": str(uuid.uuid4())}), 404, "group"),
        (body(unique("x"), "Not A Name", group), 400, "software_name"),
        (body(unique("x"), software, {}), 400, "exactly one of"),
        (body(unique("x"), software, group, mode="sometimes"), 400, "mode"),
        (body(unique("x"), software, group, strategy={"batch_size": 1, "batch_percent": 5}), 400, "not both"),
    ]
    for payload, status, words in cases:
        response = await stack.client.post(URL, json=payload, headers=headers)
        assert response.status_code == status, (payload, response.text)
        assert words in response.json()["error"]["message"], response.text
    conflict = await stack.client.post(URL, json=cases[0][0], headers=headers)
    message = conflict.json()["error"]["message"]
    assert first["id"] in message and node["hostname"] in message
    # The same wish on the same nodes is allowed; asking the first to want latest then contradicts it.
    same = await post(
        stack, users.operator, body(unique("same"), software, {"server_id": node["id"]}, version="1.0-1")
    )
    patched = await stack.client.patch(f"{URL}/{first['id']}", json={"version": "latest"}, headers=headers)
    assert patched.status_code == 409 and same["name"] in patched.json()["error"]["message"]
    for method, path, payload in (
        ("POST", URL, body(unique("v"), software, group, state="absent", version=None)),
        ("PATCH", f"{URL}/{first['id']}", {"enabled": False}),
        ("DELETE", f"{URL}/{first['id']}", None),
    ):
        response = await stack.client.request(method, path, json=payload, headers=http_auth(users.viewer))
        assert response.status_code == 403, response.text
    missing = await stack.client.patch(f"{URL}/{uuid.uuid4()}", json={"enabled": True}, headers=headers)
    assert missing.status_code == 404
    assert (await stack.client.get(f"{URL}/not-an-id", headers=headers)).status_code == 400


async def test_wrong_bodies_and_parameters_are_never_server_errors(
    stack: FullStack, users: Users, fleet: Fleet
) -> None:
    software = await software_of(stack, users, fleet)
    policy = await post(
        stack,
        users.operator,
        body(
            unique("fuzz"),
            software,
            {"group_id": fleet.group_id},
            state="absent",
            version=None,
            enabled=False,
        ),
    )
    headers = {**http_auth(users.operator), "Content-Type": "application/json"}
    valid = body(unique("fuzz"), software, {"group_id": fleet.group_id}, enabled=False)
    valid["strategy"] = {"batch_size": 1}
    failures = []
    for method, path, payload in [("POST", URL, b) for b in wrong_bodies(valid)] + [
        ("PATCH", f"{URL}/{policy['id']}", b)
        for b in wrong_bodies({"name": "n", "version": "latest", "mode": "report"})
    ]:
        response = await stack.client.request(
            method, path, content=payload.encode("utf-8", "surrogatepass"), headers=headers
        )
        if response.status_code >= 500:
            failures.append((method, payload[:80], response.status_code))
    for path, params in (
        (URL, {"page_size": "x"}),
        (URL, {"page_token": "x" * 5000}),
        (URL, {"software_name": "a\x00b"}),
        (URL, {"mode": "x"}),
        (URL, {"enabled": "maybe"}),
        (f"{URL}/{policy['id']}/compliance", {"state": "x"}),
        (f"{URL}/{policy['id']}/compliance", {"page_token": "e30"}),
        (f"{URL}/{'x' * 3000}/compliance", {}),
    ):
        response = await stack.client.get(path, params=params, headers=headers)
        if response.status_code not in (400, 404):
            failures.append((path[:60], str(params)[:60], response.status_code))
    assert failures == []


async def write_rows(
    stack: FullStack, policy_id: str, rows: list[tuple[str, str, list[str]]]
) -> list[Compliance]:
    """Compliance rows as the reconciler writes them: (hostname, state, group ids)."""
    assert stack.scheduler is not None
    now, written = datetime.now(UTC), []
    async with stack.scheduler.process.db.transaction() as session:
        for hostname, state, groups in rows:
            row = Compliance(
                policy_id=uuid.UUID(policy_id),
                server_id=uuid.uuid4(),
                hostname=hostname,
                group_ids=groups,
                desired_version="1.0-1",
                installed_version="" if state == "drifted" else "1.0-1",
                state=state,
                checked_at=now,
                changed_at=now,
            )
            session.add(row)
            written.append(row)
    return written


async def test_compliance_pages_and_the_fleet_summary(stack: FullStack, users: Users, fleet: Fleet) -> None:
    other = await stack.client.post(
        "/api/v1/groups", json={"name": unique("other")}, headers=http_auth(users.operator)
    )
    policy = await post(
        stack,
        users.operator,
        body(
            unique("report"),
            unique("absent"),
            {"group_id": fleet.group_id},
            state="absent",
            version=None,
            mode="report",
        ),
    )
    await write_rows(
        stack,
        policy["id"],
        [
            ("a.test", "compliant", [fleet.group_id]),
            ("b.test", "drifted", [fleet.group_id, other.json()["id"]]),
            ("c.test", "drifted", []),
        ],
    )
    viewer = http_auth(users.viewer)
    page = await stack.client.get(
        f"{URL}/{policy['id']}/compliance", params={"state": "drifted", "page_size": 1}, headers=viewer
    )
    assert page.status_code == 200, page.text
    first = page.json()
    assert [n["hostname"] for n in first["items"]] == ["b.test"] and first["next_page_token"]
    assert first["counts"] == {
        "total": 3,
        "compliant": 1,
        "drifted": 2,
        "converging": 0,
        "failed": 0,
        "incompatible": 0,
    }
    node = first["items"][0]
    assert (node["state"], node["policy_id"], node["desired_version"], node["installed_version"]) == (
        "drifted",
        policy["id"],
        "1.0-1",
        "",
    )
    rest = await stack.client.get(
        f"{URL}/{policy['id']}/compliance",
        params={"state": "drifted", "page_size": 1, "page_token": first["next_page_token"]},
        headers=viewer,
    )
    assert [n["hostname"] for n in rest.json()["items"]] == ["c.test"] and not rest.json()["next_page_token"]

    summary = await stack.client.get("/api/v1/compliance", headers=viewer)
    assert summary.status_code == 200, summary.text
    mine = next(item for item in summary.json()["policies"] if item["policy_id"] == policy["id"])
    assert (mine["policy_name"], mine["mode"], mine["enabled"]) == (policy["name"], "report", True)
    assert mine["counts"]["total"] == 3 and mine["counts"]["drifted"] == 2
    groups = {item["group_id"]: item for item in summary.json()["groups"]}
    assert groups[other.json()["id"]]["group_name"] == other.json()["name"]
    assert groups[other.json()["id"]]["counts"]["drifted"] == 1
    assert summary.json()["total"]["total"] >= 3


async def test_a_compliance_change_is_an_event_of_its_own_on_the_stream_of_everything(
    stack: FullStack, users: Users, fleet: Fleet
) -> None:
    """The stream of one deployment does not get it."""
    assert stack.scheduler is not None
    policy = await post(
        stack,
        users.operator,
        body(unique("ev"), unique("absent"), {"group_id": fleet.group_id}, state="absent", version=None),
    )
    created = await stack.client.post(
        "/api/v1/deployments",
        json={"package_id": fleet.package_id, "action": "install", "target": {"group_id": fleet.group_id}},
        headers=http_auth(users.operator),
    )
    deployment_id = created.json()["deployment"]["id"]
    (row,) = await write_rows(stack, policy["id"], [("ev.test", "drifted", [fleet.group_id])])
    async with served(create_app(gateway_settings(stack))) as url:
        async with (
            watch(url, users.viewer) as everything,
            watch(url, users.viewer, deployment_id=deployment_id) as one,
        ):
            async with stack.scheduler.process.db.transaction() as session:
                changes = Changes(datetime.now(UTC))
                changes.compliance(compliance_to_proto(row))
                await changes.flush(session)
            paused = await stack.client.post(
                f"/api/v1/deployments/{deployment_id}/pause", headers=http_auth(users.operator)
            )
            assert paused.status_code == 200, paused.text
            seen = await everything.until(lambda e: e.event == "compliance")
            event = seen[-1]
            data = event.json
            assert data["sequence"] == int(event.id) and data["policy_id"] == policy["id"]
            assert data["compliance"]["hostname"] == "ev.test" and data["compliance"]["state"] == "drifted"
            assert data["compliance"]["server_id"] == str(row.server_id)
            mine = await one.until(
                lambda e: e.event == "deployment" and e.json["deployment"]["state"] == "paused"
            )
            assert all(e.event != "compliance" for e in mine)
            assert int(mine[-1].id) > int(event.id), "the compliance event came first and was left out"
