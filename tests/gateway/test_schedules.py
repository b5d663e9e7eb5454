"""Scheduled deployments through the real gateway, scheduler, inventory, catalog, transfer and auth: created
with "schedule" (at or cron), read, listed, changed and cancelled under /api/v1/schedules, RBAC, audit, and
bad input answered with 4xx and a reason."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from devstack.postgres import LocalPostgres
from tests.support.fullstack import FullStack, full_stack
from tests.support.inventory import audit_records
from tests.support.mistakes import wrong_bodies
from tests.support.packages import build_deb
from tests.support.stack import AuthStack
from tests.support.users import Users, http_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEPLOYMENTS, SCHEDULES = "/api/v1/deployments", "/api/v1/schedules"


@pytest.fixture(scope="module")
async def stack(
    postgres: LocalPostgres, auth_stack: AuthStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FullStack]:
    async with full_stack(
        postgres, auth_stack, tmp_path_factory.mktemp("schedules"), scheduler={}
    ) as running:
        yield running


async def deb_node_and_package(stack: FullStack, users: Users, tmp_path: Path) -> tuple[str, str]:
    """A deb node with facts, and a deb package that fits it; their ids."""
    tag = f"sched-{uuid.uuid4().hex[:6]}"
    n = uuid.uuid4().int
    body = {
        "hostname": f"{tag}.test",
        "ip_address": f"10.{n % 200 + 20}.{n % 250}.{n % 249 + 1}",
        "category": "web",
    }
    created = await stack.client.post("/api/v1/servers", json=body, headers=http_auth(users.operator))
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    async with stack.inventory.stub("scheduler") as stub:
        facts = inv_pb.OsFacts(package_family=inv_pb.PACKAGE_FAMILY_DEB, os_id="debian", arch="x86_64")
        await stub.RecordFacts(inv_pb.RecordFactsRequest(server_id=server_id, os=facts), timeout=10)
    path = build_deb(tmp_path, tag, "1.0-1", arch="all")
    with path.open("rb") as file:
        uploaded = await stack.client.post(
            "/api/v1/packages",
            headers=http_auth(users.operator),
            files={"file": (path.name, file, "application/octet-stream")},
        )
    assert uploaded.status_code == 201, uploaded.text
    return server_id, uploaded.json()["id"]


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_a_deployment_is_scheduled_read_changed_and_cancelled(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    server_id, package_id = await deb_node_and_package(stack, users, tmp_path)
    rid = request_id("sched")
    body = {
        "package_id": package_id,
        "action": "install",
        "target": {"server_id": server_id},
        "schedule": {"at": later(hours=2)},
        "override_maintenance_window": True,
    }
    created = await stack.client.post(DEPLOYMENTS, json=body, headers=http_auth(users.operator, rid))
    assert created.status_code == 201, created.text
    reply = created.json()
    waiting, made = reply["deployment"], reply["schedule"]
    assert waiting["state"] == "scheduled" and waiting["schedule_id"] == made["id"]
    assert waiting["override_maintenance_window"] and made["override_maintenance_window"]
    assert [s["server_id"] for s in reply["resolved"]] == [server_id] and reply["incompatible"] == []
    assert made["state"] == "active" and made["next_deployment_id"] == waiting["id"]
    assert made["schedule"]["cron"] is None and made["next_run_at"] is not None
    assert made["target"]["server_id"] == server_id and made["created_by"] == users.operator_name
    actions = [(r["action"], r["result"]) for r in await audit_records(stack.client, users.admin, rid)]
    assert ("schedule.create", "success") in actions and ("deployment.override_window", "success") in actions

    url = f"{SCHEDULES}/{made['id']}"
    read = await stack.client.get(url, headers=http_auth(users.viewer))
    assert read.status_code == 200 and read.json()["id"] == made["id"], read.text
    listed = await stack.client.get(SCHEDULES, params={"state": "active"}, headers=http_auth(users.viewer))
    assert listed.status_code == 200, listed.text
    assert made["id"] in [s["id"] for s in listed.json()["items"]]
    scheduled = await stack.client.get(
        DEPLOYMENTS, params={"state": "scheduled"}, headers=http_auth(users.viewer)
    )
    assert waiting["id"] in [d["id"] for d in scheduled.json()["items"]]
    paused = await stack.client.post(
        f"{DEPLOYMENTS}/{waiting['id']}/pause", headers=http_auth(users.operator)
    )
    assert paused.status_code == 409 and "scheduled" in paused.json()["error"]["message"], paused.text

    change = {"schedule": {"cron": "0 2 * * 6", "timezone": "Asia/Shanghai"}, "strategy": {"batch_size": 5}}
    denied = await stack.client.patch(url, json=change, headers=http_auth(users.viewer))
    assert denied.status_code == 403, denied.text
    changed = await stack.client.patch(url, json=change, headers=http_auth(users.operator))
    assert changed.status_code == 200, changed.text
    assert changed.json()["schedule"] == {"at": None, "cron": "0 2 * * 6", "timezone": "Asia/Shanghai"}
    assert changed.json()["strategy"]["batch_size"] == 5
    local = datetime.fromisoformat(changed.json()["next_run_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.weekday(), local.hour, local.minute) == (5, 2, 0)

    denied = await stack.client.post(f"{url}/cancel", headers=http_auth(users.viewer))
    assert denied.status_code == 403, denied.text
    cancelled = await stack.client.post(f"{url}/cancel", headers=http_auth(users.operator))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled", cancelled.text
    gone = await stack.client.get(f"{DEPLOYMENTS}/{waiting['id']}", headers=http_auth(users.viewer))
    assert gone.json()["state"] == "cancelled" and gone.json()["finished_at"] is not None
    again = await stack.client.post(f"{url}/cancel", headers=http_auth(users.operator))
    assert again.status_code == 409 and "cancelled" in again.json()["error"]["message"], again.text


async def test_a_cron_schedule_is_made_in_its_timezone(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    server_id, package_id = await deb_node_and_package(stack, users, tmp_path)
    body = {
        "package_id": package_id,
        "action": "update",
        "target": {"server_id": server_id},
        "schedule": {"cron": "30 22 * * 1-5", "timezone": "America/New_York"},
    }
    created = await stack.client.post(DEPLOYMENTS, json=body, headers=http_auth(users.operator))
    assert created.status_code == 201, created.text
    made = created.json()["schedule"]
    local = datetime.fromisoformat(made["next_run_at"]).astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute, local.weekday() < 5) == (22, 30, True)
    assert made["action"] == "update" and made["schedule"]["at"] is None


async def test_wrong_schedules_are_400_with_the_reason(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    server_id, package_id = await deb_node_and_package(stack, users, tmp_path)
    base = {"package_id": package_id, "action": "install", "target": {"server_id": server_id}}
    cases = [
        ({"schedule": {"at": later(hours=-1)}}, "in the past"),
        ({"schedule": {"at": "2030-01-01T02:00:00"}}, "timezone"),
        ({"schedule": {"at": "next saturday"}}, "schedule.at"),
        ({"schedule": {"at": later(hours=1), "cron": "0 2 * * 6"}}, "exactly one"),
        ({"schedule": {}}, "exactly one"),
        ({"schedule": {"at": later(hours=1), "timezone": "UTC"}}, "timezone goes with cron"),
        ({"schedule": {"cron": "0 0 2 * * 6"}}, "five"),
        ({"schedule": {"cron": "*/2 * * * *"}}, "at most every 5 minutes"),
        ({"schedule": {"cron": "0 2 * * 6", "timezone": "Moon/Base"}}, "IANA"),
        ({"schedule": {"at": later(hours=1)}, "dry_run": True}, "dry run"),
    ]
    for extra, words in cases:
        response = await stack.client.post(
            DEPLOYMENTS, json={**base, **extra}, headers=http_auth(users.operator)
        )
        assert response.status_code == 400, (extra, response.text)
        assert words in response.json()["error"]["message"], (extra, response.text)
    rollback = {
        "action": "rollback",
        "rollback_deployment_id": str(uuid.uuid4()),
        "schedule": {"at": later(hours=1)},
    }
    response = await stack.client.post(DEPLOYMENTS, json=rollback, headers=http_auth(users.operator))
    assert response.status_code == 400 and "rollback" in response.json()["error"]["message"], response.text
    missing = await stack.client.get(f"{SCHEDULES}/{uuid.uuid4()}", headers=http_auth(users.viewer))
    assert missing.status_code == 404, missing.text
    malformed = await stack.client.get(f"{SCHEDULES}/not-an-id", headers=http_auth(users.viewer))
    assert malformed.status_code == 400, malformed.text
    nothing = await stack.client.patch(
        f"{SCHEDULES}/{uuid.uuid4()}", json={}, headers=http_auth(users.operator)
    )
    assert nothing.status_code == 400 and "schedule, a strategy" in nothing.json()["error"]["message"], (
        nothing.text
    )
    anonymous = await stack.client.get(SCHEDULES)
    assert anonymous.status_code == 401, anonymous.text


async def test_wrong_bodies_and_parameters_are_never_server_errors(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    server_id, package_id = await deb_node_and_package(stack, users, tmp_path)
    base = {"package_id": package_id, "action": "install", "target": {"server_id": server_id}}
    created = await stack.client.post(
        DEPLOYMENTS, json={**base, "schedule": {"at": later(days=20)}}, headers=http_auth(users.operator)
    )
    assert created.status_code == 201, created.text
    url = f"{SCHEDULES}/{created.json()['schedule']['id']}"
    headers = {**http_auth(users.operator), "Content-Type": "application/json"}
    calls = [
        (DEPLOYMENTS, "POST", body) for body in wrong_bodies({**base, "schedule": {"cron": "0 3 * * *"}})
    ]
    calls += [
        (DEPLOYMENTS, "POST", body) for body in wrong_bodies({**base, "override_maintenance_window": True})
    ]
    calls += [
        (DEPLOYMENTS, "POST", '{"package_id": "x", "action": "install", "schedule": ' + body + "}")
        for body in wrong_bodies({"cron": "0 3 * * *", "timezone": "UTC"})
    ]
    calls += [
        (url, "PATCH", body) for body in wrong_bodies({"schedule": {"at": later(days=2)}, "strategy": {}})
    ]
    calls += [(url, "PATCH", '{"schedule": ' + body + "}") for body in wrong_bodies({"at": later(days=2)})]
    failures = []
    for path, method, body in calls:
        response = await stack.client.request(
            method, path, content=body.encode("utf-8", "surrogatepass"), headers=headers
        )
        if response.status_code >= 500:
            failures.append((path, body[:80], response.status_code))
    for params in (
        {"page_size": "x"},
        {"page_size": 10**30},
        {"page_token": "x" * 5000},
        {"page_token": "garbage!"},
        {"state": "soon"},
    ):
        response = await stack.client.get(SCHEDULES, params=params, headers=http_auth(users.viewer))
        if response.status_code >= 500 or response.status_code == 200 and params.get("state"):
            failures.append((SCHEDULES, str(params), response.status_code))
    assert failures == []
