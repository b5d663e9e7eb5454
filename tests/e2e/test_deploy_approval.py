"""Approval on the node end to end: a deployment that requires approval downloads everywhere and installs
nowhere until someone approves, node by node: through the REST API, or on the node itself with
`convoy-agent approve TASK`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.agents import AgentHost, Fleet, build_scripted_deb
from tests.support.e2e_stack import (
    create_deployment,
    describe,
    ok,
    software,
    targets,
    upload,
    wait_for,
    wait_state,
)

E2E_HOSTS = 3
SOFTWARE = "approve-e2e"
STEP_TIMEOUT = 120.0

pytestmark = pytest.mark.timeout(600)


def waiting_tasks(host: AgentHost) -> list[str]:
    """The task ids `convoy-agent approve` lists on the node."""
    done = host.approve()
    assert done.returncode == 0, f"approve (list) on {host.hostname}: {done.stdout}{done.stderr}"
    if "no task is waiting" in done.stdout:
        return []
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def test_nodes_wait_for_approval_then_install_when_approved_by_rest_or_on_the_node(fleet: Fleet) -> None:
    client = fleet.client
    by_rest, on_node = fleet.debs
    package = upload_deb(fleet)
    deployment = create_deployment(
        client,
        package_id=package["id"],
        action="install",
        target={"group_id": fleet.group_id},
        strategy={"require_approval": True},
    )
    deployment_id = deployment["id"]

    def all_waiting() -> bool:
        found = targets(client, deployment_id)
        return all(found[host.node_id]["state"] == "awaiting_approval" for host in fleet.debs)

    wait_for(all_waiting, timeout=STEP_TIMEOUT, what="both deb nodes awaiting approval")
    found = targets(client, deployment_id)
    assert found[fleet.rpm.node_id]["state"] == "skipped", found[fleet.rpm.node_id]
    assert get_state(fleet, deployment_id) == "running"
    # Downloaded and verified, nothing installed: no package, no maintainer script ran.
    for host in fleet.debs:
        assert host.dpkg_query(SOFTWARE) is None, host.dpkg_query(SOFTWARE)
        assert host.script_log(SOFTWARE) == []
        assert software(client, host.node_id, SOFTWARE) is None
        assert len(waiting_tasks(host)) == 1, host.approve().stdout

    # Approved through the API for one node: that node installs, the other one keeps waiting.
    approved = ok(
        client.post(f"/api/v1/deployments/{deployment_id}/approve", json={"server_ids": [by_rest.node_id]})
    )
    assert approved["approved"] == 1, approved

    def installed_by_rest() -> bool:
        return targets(client, deployment_id)[by_rest.node_id]["state"] == "succeeded"

    wait_for(installed_by_rest, timeout=STEP_TIMEOUT, what="the node approved through the API installed")
    assert by_rest.dpkg_query(SOFTWARE) == ("1.0-1", "ii ")
    assert by_rest.script_log(SOFTWARE) == ["preinst install 1.0-1", "postinst configure 1.0-1"]
    assert software(client, by_rest.node_id, SOFTWARE) == "1.0-1"
    found = targets(client, deployment_id)
    assert found[on_node.node_id]["state"] == "awaiting_approval", describe(client, deployment_id)
    assert on_node.dpkg_query(SOFTWARE) is None and on_node.script_log(SOFTWARE) == []
    assert get_state(fleet, deployment_id) == "running"

    # Approved on the node itself: the task id as `approve` lists it (the assignment id).
    (task,) = waiting_tasks(on_node)
    done = on_node.approve(task)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}"
    assert f"approved {task}" in done.stdout, done.stdout
    final = wait_state(client, deployment_id)
    assert final["state"] == "succeeded", describe(client, deployment_id)
    assert on_node.dpkg_query(SOFTWARE) == ("1.0-1", "ii ")
    assert on_node.script_log(SOFTWARE) == ["preinst install 1.0-1", "postinst configure 1.0-1"]
    assert software(client, on_node.node_id, SOFTWARE) == "1.0-1"
    assert waiting_tasks(on_node) == []

    found = targets(client, deployment_id)
    for host in fleet.debs:
        target = found[host.node_id]
        assert (target["state"], target["installed_version"], target["attempt"]) == ("succeeded", "1.0-1", 1)
    assert final["counts"]["succeeded"] == 2 and final["counts"]["skipped"] == 1, final["counts"]
    assert final["counts"]["awaiting_approval"] == 0, final["counts"]
    records = ok(
        client.get(
            "/api/v1/audit",
            params={"action": "deployment.approve", "target": f"deployment:{deployment_id}"},
        )
    )["items"]
    assert [(r["result"], r["reason"]) for r in records] == [("success", "1 target(s) approved")], records

    # Nothing is left to approve: the finished deployment refuses, and so does the node for an unknown task.
    refused = client.post(f"/api/v1/deployments/{deployment_id}/approve", json={})
    assert refused.status_code == 409, refused.text
    done = on_node.approve(task)
    assert done.returncode != 0 and "no task" in done.stderr, f"{done.stdout}{done.stderr}"


def upload_deb(fleet: Fleet) -> dict[str, Any]:
    return upload(fleet.client, build_scripted_deb(fleet.workdir, SOFTWARE, "1.0-1"))


def get_state(fleet: Fleet, deployment_id: str) -> str:
    return str(ok(fleet.client.get(f"/api/v1/deployments/{deployment_id}"))["state"])
