"""Deployments through the real gateway, scheduler, inventory, catalog, transfer and auth: create (and preview),
read, list, targets, logs, pause/resume/cancel/retry/approve, node revocation, RBAC and bad input."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from convoy.inventory.v1 import inventory_pb2 as inv_pb
from devstack.postgres import LocalPostgres
from tests.support.fullstack import FullStack, full_stack
from tests.support.inventory import audit_records
from tests.support.mistakes import wrong_bodies
from tests.support.packages import build_deb, build_rpm
from tests.support.stack import AuthStack, NodeIdentity, enroll_with_command, fresh_ip, node_csr
from tests.support.users import Users, http_auth, request_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

URL = "/api/v1/deployments"
FINAL_TARGET_STATES = {"succeeded", "unchanged", "failed", "skipped", "cancelled"}


@pytest.fixture(scope="module")
async def stack(
    postgres: LocalPostgres, auth_stack: AuthStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FullStack]:
    async with full_stack(
        postgres, auth_stack, tmp_path_factory.mktemp("deployments"), scheduler={}
    ) as running:
        yield running


@dataclass(frozen=True)
class Fleet:
    """Two deb nodes and one rpm node in one group, and a deb package that fits the deb nodes only."""

    group_id: str
    deb_nodes: list[dict]
    rpm_node: dict
    package_id: str
    rpm_package_id: str


async def add_node(stack: FullStack, token: str, hostname: str, family: int, group_id: str) -> dict:
    body = {"hostname": hostname, "ip_address": fresh_ip(), "category": "web", "group_ids": [group_id]}
    created = await stack.client.post("/api/v1/servers", json=body, headers=http_auth(token))
    assert created.status_code == 201, created.text
    server = created.json()
    # What the scheduler's edge does when an agent says hello.
    async with stack.inventory.stub("scheduler") as stub:
        facts = inv_pb.OsFacts(package_family=family, os_id="debian", arch="x86_64")
        await stub.RecordFacts(inv_pb.RecordFactsRequest(server_id=server["id"], os=facts), timeout=10)
    return server


async def upload(stack: FullStack, token: str, path: Path) -> dict:
    with path.open("rb") as file:
        response = await stack.client.post(
            "/api/v1/packages",
            headers=http_auth(token),
            files={"file": (path.name, file, "application/octet-stream")},
        )
    assert response.status_code == 201, response.text
    return response.json()


async def make_fleet(stack: FullStack, users: Users, tmp_path: Path, name: str) -> Fleet:
    tag = f"{name}-{uuid.uuid4().hex[:6]}"
    group = await stack.client.post("/api/v1/groups", json={"name": tag}, headers=http_auth(users.operator))
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    debs = [
        await add_node(stack, users.operator, f"{tag}-deb{i}.test", inv_pb.PACKAGE_FAMILY_DEB, group_id)
        for i in (1, 2)
    ]
    rpm = await add_node(stack, users.operator, f"{tag}-rpm.test", inv_pb.PACKAGE_FAMILY_RPM, group_id)
    deb_package = await upload(stack, users.operator, build_deb(tmp_path, tag, "1.0-1", arch="all"))
    rpm_package = await upload(stack, users.operator, build_rpm(tmp_path, tag, "1.0", arch="noarch"))
    return Fleet(group_id, debs, rpm, deb_package["id"], rpm_package["id"])


async def deploy(stack: FullStack, token: str, fleet: Fleet, rid: str = "", **extra: object) -> dict:
    body = {"package_id": fleet.package_id, "action": "install", "target": {"group_id": fleet.group_id}}
    response = await stack.client.post(URL, json={**body, **extra}, headers=http_auth(token, rid))
    assert response.status_code == 201, response.text
    return response.json()


async def targets(stack: FullStack, token: str, deployment_id: str, **params: object) -> list[dict]:
    response = await stack.client.get(
        f"{URL}/{deployment_id}/targets", params={"page_size": 500, **params}, headers=http_auth(token)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_deployment_is_created_read_listed_and_its_targets_shown(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    fleet = await make_fleet(stack, users, tmp_path, "create")
    rid = request_id("dep")
    created = await deploy(stack, users.operator, fleet, rid, strategy={"batch_size": 1, "canary": True})
    deployment = created["deployment"]
    assert deployment["action"] == "install" and deployment["target"] == {
        "server_id": None,
        "group_id": fleet.group_id,
        "all": None,
        "selector": None,
    }
    assert deployment["package_id"] == fleet.package_id
    assert deployment["software_name"].startswith("create-") and deployment["version"] == "1.0-1"
    assert deployment["state"] in ("pending", "running")
    assert (deployment["strategy"]["batch_size"], deployment["strategy"]["canary"]) == (1, True)
    assert deployment["origin"] == "manual"
    assert deployment["created_by"] == users.operator_name
    assert deployment["created_at"].endswith("Z")
    assert deployment["counts"]["total"] == 3 and deployment["counts"]["skipped"] == 1
    assert sorted(s["server_id"] for s in created["resolved"]) == sorted(n["id"] for n in fleet.deb_nodes)
    (incompatible,) = created["incompatible"]
    assert incompatible["server_id"] == fleet.rpm_node["id"] and "rpm" in incompatible["reason"]
    records = await audit_records(stack.client, users.admin, rid)
    assert [(r["action"], r["result"]) for r in records if r["source"] == "scheduler"] == [
        ("deployment.create", "success")
    ]

    url = f"{URL}/{deployment['id']}"
    read = await stack.client.get(url, headers=http_auth(users.viewer))
    assert read.status_code == 200, read.text
    assert read.json()["id"] == deployment["id"] and read.json()["counts"]["total"] == 3

    rows = {t["server_id"]: t for t in await targets(stack, users.viewer, deployment["id"])}
    assert set(rows) == {n["id"] for n in fleet.deb_nodes} | {fleet.rpm_node["id"]}
    skipped = rows[fleet.rpm_node["id"]]
    assert skipped["state"] == "skipped" and "rpm" in skipped["message"]
    assert skipped["hostname"] == fleet.rpm_node["hostname"] and skipped["attempt"] == 1
    assert {rows[n["id"]]["state"] for n in fleet.deb_nodes} <= {"pending", "assigned"}
    only_skipped = await targets(stack, users.viewer, deployment["id"], state="skipped")
    assert [t["server_id"] for t in only_skipped] == [fleet.rpm_node["id"]]
    by_name = await targets(stack, users.viewer, deployment["id"], q=fleet.deb_nodes[0]["hostname"][-10:])
    assert [t["server_id"] for t in by_name] == [fleet.deb_nodes[0]["id"]]

    log = await stack.client.get(f"{url}/targets/{fleet.rpm_node['id']}/log", headers=http_auth(users.viewer))
    assert log.status_code == 200, log.text
    assert log.json()["dropped_lines"] == 0 and isinstance(log.json()["lines"], list)

    listed = await stack.client.get(
        URL, params={"software_name": deployment["software_name"]}, headers=http_auth(users.viewer)
    )
    assert listed.status_code == 200, listed.text
    assert [d["id"] for d in listed.json()["items"]] == [deployment["id"]] and listed.json()["total"] == 1
    for params in (
        {"server_id": fleet.deb_nodes[1]["id"]},
        {"package_id": fleet.package_id},
        {"created_by": users.operator_name, "software_name": deployment["software_name"]},
        {"since": deployment["created_at"], "software_name": deployment["software_name"]},
    ):
        found = await stack.client.get(URL, params=params, headers=http_auth(users.viewer))
        assert found.status_code == 200, (params, found.text)
        assert deployment["id"] in [d["id"] for d in found.json()["items"]], params
    none = await stack.client.get(
        URL, params={"state": "succeeded", "package_id": fleet.package_id}, headers=http_auth(users.viewer)
    )
    assert none.status_code == 200 and none.json()["items"] == []


async def test_a_dry_run_previews_without_creating(stack: FullStack, users: Users, tmp_path: Path) -> None:
    fleet = await make_fleet(stack, users, tmp_path, "dry")
    body = {
        "package_id": fleet.package_id,
        "action": "install",
        "target": {"group_id": fleet.group_id},
        "dry_run": True,
    }
    preview = await stack.client.post(URL, json=body, headers=http_auth(users.operator))
    assert preview.status_code == 200, preview.text
    assert preview.json()["deployment"] is None
    assert sorted(s["server_id"] for s in preview.json()["resolved"]) == sorted(
        n["id"] for n in fleet.deb_nodes
    )
    assert [s["server_id"] for s in preview.json()["incompatible"]] == [fleet.rpm_node["id"]]
    listed = await stack.client.get(
        URL, params={"package_id": fleet.package_id}, headers=http_auth(users.viewer)
    )
    assert listed.json()["items"] == []


async def test_pause_resume_cancel_and_the_states_they_need(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    fleet = await make_fleet(stack, users, tmp_path, "steer")
    deployment = (await deploy(stack, users.operator, fleet))["deployment"]
    url = f"{URL}/{deployment['id']}"
    headers = http_auth(users.operator)

    paused = await stack.client.post(f"{url}/pause", json={"reason": "change freeze"}, headers=headers)
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"] == "paused" and "change freeze" in paused.json()["state_reason"]
    again = await stack.client.post(f"{url}/pause", headers=headers)
    assert again.status_code == 409, again.text
    resumed = await stack.client.post(f"{url}/resume", headers=headers)
    assert resumed.status_code == 200 and resumed.json()["state"] in ("pending", "running")
    no_failures = await stack.client.post(f"{url}/retry", json={"server_ids": []}, headers=headers)
    assert no_failures.status_code == 200, no_failures.text
    assert no_failures.json()["retried"] == 0 and no_failures.json()["deployment"]["id"] == deployment["id"]
    nothing = await stack.client.post(f"{url}/approve", headers=headers)
    assert nothing.status_code == 200 and nothing.json()["approved"] == 0, nothing.text
    cancelled = await stack.client.post(f"{url}/cancel", json={"reason": "wrong version"}, headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["state_reason"] == "wrong version"
    assert {t["state"] for t in await targets(stack, users.viewer, deployment["id"])} <= {
        "cancelled",
        "skipped",
        "assigned",
    }
    for action in ("pause", "resume"):
        late = await stack.client.post(f"{url}/{action}", headers=headers)
        assert late.status_code == 409, (action, late.text)
        assert late.json()["error"]["code"] == "failed_precondition"


async def test_a_viewer_reads_but_may_not_steer_and_each_refusal_is_audited(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    fleet = await make_fleet(stack, users, tmp_path, "rbac")
    deployment = (await deploy(stack, users.operator, fleet))["deployment"]
    url = f"{URL}/{deployment['id']}"
    for path in (URL, url, f"{url}/targets", f"{url}/targets/{fleet.deb_nodes[0]['id']}/log"):
        read = await stack.client.get(path, headers=http_auth(users.viewer))
        assert read.status_code == 200, (path, read.text)
    body = {"package_id": fleet.package_id, "action": "install", "target": {"all": True}}
    attempts = [
        ("deployment.create", URL, body),
        *((f"deployment.{a}", f"{url}/{a}", None) for a in ("pause", "resume", "cancel", "retry", "approve")),
        ("server.revoke", f"/api/v1/servers/{fleet.deb_nodes[0]['id']}/revoke", None),
    ]
    for action, path, payload in attempts:
        rid = request_id("dep")
        refused = await stack.client.post(path, json=payload, headers=http_auth(users.viewer, rid))
        assert refused.status_code == 403, (path, refused.text)
        (record,) = await audit_records(stack.client, users.admin, rid)
        assert (record["action"], record["result"]) == (action, "denied")
        assert record["actor"] == f"user:{users.viewer_name}"
    assert (await stack.client.get(URL)).status_code == 401
    still = await stack.client.get(url, headers=http_auth(users.viewer))
    assert still.json()["state"] in ("pending", "running")


_VALID = {"package_id": str(uuid.uuid4()), "action": "install", "target": {"all": True}}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({**_VALID, "action": "deploy"}, "action"),
        ({**_VALID, "action": "INSTALL"}, "action"),
        ({k: v for k, v in _VALID.items() if k != "action"}, "action"),
        ({k: v for k, v in _VALID.items() if k != "package_id"}, "package_id is required"),
        ({k: v for k, v in _VALID.items() if k != "target"}, "target is required"),
        ({**_VALID, "target": {}}, "exactly one"),
        ({**_VALID, "target": {"all": True, "group_id": "x"}}, "exactly one"),
        ({**_VALID, "target": {"all": False}}, "all must be true"),
        ({**_VALID, "strategy": {"batch_percent": 101}}, "batch_percent"),
        ({**_VALID, "strategy": {"batch_size": -1}}, "batch_size"),
        ({**_VALID, "strategy": {"batch_size": 2**31}}, "batch_size"),
        ({**_VALID, "strategy": {"batch_size": 2, "batch_percent": 10}}, "not both"),
        ({**_VALID, "strategy": {"max_failures": 1, "max_failure_percent": 10}}, "not both"),
        ({**_VALID, "strategy": {"pause_between_batches_seconds": 10**9}}, "pause_between"),
        ({**_VALID, "strategy": {"speed": "fast"}}, "speed"),
        ({**_VALID, "rollback_deployment_id": str(uuid.uuid4())}, "rollback"),
        ({**_VALID, "dry_run": "maybe"}, "dry_run"),
        ({**_VALID, "colour": "red"}, "colour"),
    ],
)
async def test_bad_deployment_requests_are_a_400_that_says_why(
    stack: FullStack, users: Users, body: dict, says: str
) -> None:
    response = await stack.client.post(URL, json=body, headers=http_auth(users.operator))
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]["message"]


async def test_unknown_and_malformed_ids_and_parameters(stack: FullStack, users: Users) -> None:
    headers = http_auth(users.operator)
    unknown = str(uuid.uuid4())
    assert (await stack.client.get(f"{URL}/{unknown}", headers=headers)).status_code == 404
    assert (await stack.client.post(f"{URL}/{unknown}/pause", headers=headers)).status_code == 404
    assert (await stack.client.get(f"{URL}/{unknown}/targets", headers=headers)).status_code == 404
    malformed = await stack.client.get(f"{URL}/not-a-uuid", headers=headers)
    assert malformed.status_code == 400, malformed.text
    missing_package = await stack.client.post(URL, json={**_VALID}, headers=headers)
    assert missing_package.status_code == 404, missing_package.text
    for params in (
        {"page_size": 501},
        {"state": "sleeping"},
        {"since": "yesterday"},
        {"page_token": "garbage!"},
        {"server_id": "x"},
    ):
        bad = await stack.client.get(URL, params=params, headers=headers)
        assert bad.status_code == 400, (params, bad.text)
    malformed_server = await stack.client.post("/api/v1/servers/not-a-uuid/revoke", headers=headers)
    assert malformed_server.status_code == 400, malformed_server.text
    unknown_server = await stack.client.post(f"/api/v1/servers/{uuid.uuid4()}/revoke", headers=headers)
    assert unknown_server.status_code == 404, unknown_server.text


# Times whose instant in UTC falls outside the years 1 to 9999, and the last ones inside.
OUT_OF_RANGE = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:59:59+01:00")
AT_THE_EDGES = ("0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59+01:00", "0001-01-01T01:00:00+01:00")


async def test_every_time_parameter_outside_what_can_be_stored_is_a_400_that_names_it(
    stack: FullStack, users: Users
) -> None:
    routes = [(URL, users.viewer), ("/api/v1/audit", users.admin)]
    failures = []
    for path, token in routes:
        for name in ("since", "until"):
            for value in OUT_OF_RANGE:
                response = await stack.client.get(path, params={name: value}, headers=http_auth(token))
                message = response.json().get("error", {}).get("message", "")
                if response.status_code != 400 or not message.startswith(f"{name} is outside"):
                    failures.append((path, name, value, response.status_code, message))
            for value in AT_THE_EDGES:
                response = await stack.client.get(path, params={name: value}, headers=http_auth(token))
                if response.status_code != 200:
                    failures.append((path, name, value, response.status_code, response.text[:200]))
    assert failures == []


async def test_wrong_bodies_and_parameters_are_never_server_errors(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    fleet = await make_fleet(stack, users, tmp_path, "fuzz")
    deployment = (await deploy(stack, users.operator, fleet))["deployment"]
    url = f"{URL}/{deployment['id']}"
    headers = {**http_auth(users.operator), "Content-Type": "application/json"}
    valid = {
        "package_id": fleet.package_id,
        "action": "install",
        "target": {"group_id": fleet.group_id},
        "strategy": {"batch_size": 1},
        "dry_run": True,
        "rollback_deployment_id": "",
    }
    calls = [(URL, body) for body in wrong_bodies(valid)]
    calls += [(f"{url}/{a}", body) for a in ("pause", "cancel") for body in wrong_bodies({"reason": "x"})]
    calls += [(f"{url}/{a}", body) for a in ("retry", "approve") for body in wrong_bodies({"server_ids": []})]
    calls += [
        (f"/api/v1/servers/{fleet.deb_nodes[0]['id']}/revoke", body) for body in wrong_bodies({"reason": "x"})
    ]
    failures = []
    for path, body in calls:
        response = await stack.client.post(
            path, content=body.encode("utf-8", "surrogatepass"), headers=headers
        )
        if response.status_code >= 500:
            failures.append((path, body[:80], response.status_code))
    for params in (
        {"page_size": "x"},
        {"page_size": 10**30},
        {"page_token": "x" * 5000},
        {"software_name": "a\x00b"},
        {"since": "9999-12-31T23:59:59Z"},
        {"until": "0001-01-01T00:00:00Z"},
        *({name: value} for name in ("since", "until") for value in (*OUT_OF_RANGE, *AT_THE_EDGES)),
        {"created_by": "é漢字💥"},
    ):
        for path in (URL, f"{url}/targets"):
            response = await stack.client.get(path, params=params, headers=headers)
            if response.status_code >= 500:
                failures.append((path, str(params)[:80], response.status_code))
    for params in ({"attempt": -1}, {"attempt": 2**40}, {"state": "x"}, {"batch": "x"}, {"q": "\x00"}):
        response = await stack.client.get(f"{url}/targets", params=params, headers=headers)
        if response.status_code != 400:
            failures.append((f"{url}/targets", str(params), response.status_code))
    assert failures == []


async def renew(stack: FullStack, node: NodeIdentity) -> agent_pb.RenewResponse:
    assert stack.scheduler is not None
    async with node.channel(stack.scheduler.agent_target, "scheduler") as channel:
        return await agent_grpc.AgentServiceStub(channel).Renew(
            agent_pb.RenewRequest(csr_pem=node_csr(node.key)), timeout=10
        )


async def enroll(stack: FullStack, command: str) -> NodeIdentity:
    return await enroll_with_command(command, stack.auth.pki_dir, fresh_ip())


async def test_a_node_enrolled_with_the_printed_command_is_refused_once_revoked(
    stack: FullStack, users: Users
) -> None:
    created = await stack.client.post("/api/v1/join-tokens", json={}, headers=http_auth(users.operator))
    assert created.status_code == 201, created.text
    node = await enroll(stack, created.json()["command"])
    server = await stack.client.get(f"/api/v1/servers/{node.node_id}", headers=http_auth(users.viewer))
    # Enrolled: pending until its agent's first connection.
    assert server.status_code == 200 and server.json()["status"] == "pending", server.text
    assert (await renew(stack, node)).certificate_pem

    rid = request_id("rev")
    revoked = await stack.client.post(
        f"/api/v1/servers/{node.node_id}/revoke",
        json={"reason": "disk stolen"},
        headers=http_auth(users.operator, rid),
    )
    assert revoked.status_code == 204, revoked.text
    records = await audit_records(stack.client, users.admin, rid)
    assert ("node.revoke", "success") in [(r["action"], r["result"]) for r in records], records
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await renew(stack, node)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_revoked_server_shows_as_revoked(stack: FullStack, users: Users) -> None:
    created = await stack.client.post("/api/v1/join-tokens", json={}, headers=http_auth(users.operator))
    node = await enroll(stack, created.json()["command"])
    revoked = await stack.client.post(
        f"/api/v1/servers/{node.node_id}/revoke", headers=http_auth(users.admin)
    )
    assert revoked.status_code == 204, revoked.text
    server = await stack.client.get(f"/api/v1/servers/{node.node_id}", headers=http_auth(users.viewer))
    assert server.json()["status"] == "revoked", server.text


async def test_a_revocation_reason_is_held_to_the_500_characters_auth_and_the_scheduler_keep(
    stack: FullStack, users: Users
) -> None:
    created = await stack.client.post("/api/v1/join-tokens", json={}, headers=http_auth(users.operator))
    node = await enroll(stack, created.json()["command"])
    url = f"/api/v1/servers/{node.node_id}/revoke"
    too_long = await stack.client.post(url, json={"reason": "x" * 501}, headers=http_auth(users.operator))
    assert too_long.status_code == 400, too_long.text
    assert too_long.json()["error"]["message"].startswith("body.reason:"), too_long.text
    assert "500" in too_long.json()["error"]["message"]
    # Refused by the gateway before anything happened: the node still renews.
    assert (await renew(stack, node)).certificate_pem
    revoked = await stack.client.post(url, json={"reason": "y" * 500}, headers=http_auth(users.operator))
    assert revoked.status_code == 204, revoked.text
