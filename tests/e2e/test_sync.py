"""Sync policies end to end: real agents in sandbox roots, two scheduler processes reconciling at once, and
only policies (never a hand-made deployment) changing the nodes: `latest` on a group, a newer upload, a node
enrolling later, a package removed by hand (corrected by `enforce`, only shown by `report`), `absent`,
contradicting policies refused, and a node whose install keeps failing backed off while the rest converge.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from convoy_agent.sandbox import RPM_DBPATH

from tests.support.agents import AgentHost, Family, Fleet, build_scripted_deb, build_scripted_rpm
from tests.support.e2e_stack import E2EStack, ok, upload, wait_for
from tests.support.sandbox import set_failing

E2E_HOSTS = 4
SOFTWARE = "sync-e2e"
FLAKY = "flaky-e2e"
RECONCILE_SECONDS = 2
MAX_ATTEMPTS = 3
E2E_ENV = {
    "CONVOY_SCHEDULER_RECONCILE_SECONDS": str(RECONCILE_SECONDS),
    "CONVOY_SCHEDULER_RECONCILE_BACKOFF_SECONDS": "1",
    "CONVOY_SCHEDULER_RECONCILE_BACKOFF_MAX_SECONDS": "4",
    "CONVOY_SCHEDULER_RECONCILE_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "CONVOY_SCHEDULER_RECONCILE_SETTLE_SECONDS": "2",
}
CONVERGE_TIMEOUT = 180.0

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module", autouse=True)
def second_scheduler(fleet: Fleet) -> Iterator[None]:
    """A second scheduler process on the same database for the whole module: both reconcile and roll out."""
    stack: E2EStack = fleet.stack
    stack.start_replica("scheduler", "scheduler-2")
    yield
    stack.kill("scheduler-2")


def create_policy(client: Any, **body: Any) -> dict[str, Any]:
    return ok(client.post("/api/v1/policies", json=body), 201)


def compliance(client: Any, policy_id: str) -> dict[str, dict[str, Any]]:
    """Per node: the policy's compliance row (server id → row)."""
    page = ok(client.get(f"/api/v1/policies/{policy_id}/compliance", params={"page_size": 100}))
    return {node["server_id"]: node for node in page["items"]}


def policy_deployments(client: Any, policy_id: str) -> list[dict[str, Any]]:
    page = ok(client.get("/api/v1/deployments", params={"policy_id": policy_id, "page_size": 100}))
    return page["items"]


def wait_compliance(
    client: Any, policy_id: str, hosts: list[AgentHost], check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, dict[str, Any]]:
    def reached() -> dict[str, dict[str, Any]] | None:
        rows = compliance(client, policy_id)
        return rows if all(host.node_id in rows and check(rows[host.node_id]) for host in hosts) else None

    try:
        return wait_for(reached, timeout=CONVERGE_TIMEOUT, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; compliance now: {compliance(client, policy_id)}") from None


def compliant(version: str) -> Callable[[dict[str, Any]], bool]:
    return lambda row: row["state"] == "compliant" and row["installed_version"] == version


def remove_by_hand(host: AgentHost, name: str) -> None:
    """What an operator does on the node without Convoy: the package tool, straight on the root."""
    if host.family == "deb":
        argv = [
            "dpkg",
            f"--root={host.root}",
            "--force-script-chrootless",
            f"--log={host.root / 'var/log/dpkg.log'}",
            "--remove",
            name,
        ]
    else:
        argv = [
            "rpm",
            "--root",
            str(host.root),
            "--dbpath",
            RPM_DBPATH,
            "-e",
            "--noscripts",
            "--nodeps",
            name,
        ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# The tests run in order and build on each other: one policy's life.


def test_latest_policy_installs_the_newest_version_on_every_member(
    fleet: Fleet, state: dict[str, Any]
) -> None:
    client = fleet.client
    upload(client, build_scripted_deb(fleet.workdir, SOFTWARE, "1.0-1"))
    upload(client, build_scripted_rpm(fleet.workdir, SOFTWARE, "1.0", "1"))
    policy = create_policy(
        client,
        name="sync-e2e latest",
        target={"group_id": fleet.group_id},
        software_name=SOFTWARE,
        version="latest",
        state="present",
        mode="enforce",
    )
    state["policy"] = policy
    wait_compliance(client, policy["id"], fleet.hosts, compliant("1.0-1"), "every member on 1.0-1")
    for host in fleet.hosts:
        assert host.installed_version(SOFTWARE) == "1.0-1"
    made = policy_deployments(client, policy["id"])
    # One per package (the deb build, the rpm build), though two schedulers were reconciling.
    assert len(made) == 2, made
    assert all(d["origin"] == "policy" and d["policy_id"] == policy["id"] for d in made), made
    state["deployments"] = len(made)


def test_a_newer_upload_rolls_out_without_anyone_creating_a_deployment(
    fleet: Fleet, state: dict[str, Any]
) -> None:
    client, policy = fleet.client, state["policy"]
    upload(client, build_scripted_deb(fleet.workdir, SOFTWARE, "1.1-1"))
    wait_compliance(client, policy["id"], fleet.debs, compliant("1.1-1"), "the deb members on 1.1-1")
    for host in fleet.debs:
        assert host.installed_version(SOFTWARE) == "1.1-1"
        assert host.script_log(SOFTWARE)[-1] == "postinst configure 1.1-1"
    assert fleet.rpm.installed_version(SOFTWARE) == "1.0-1"
    made = policy_deployments(client, policy["id"])
    assert len(made) == state["deployments"] + 1, made  # one update, for the deb nodes only
    state["deployments"] = len(made)


def test_a_node_enrolling_into_the_group_converges_by_itself(
    fleet: Fleet, make_agent_host: Callable[[Family, str], AgentHost], state: dict[str, Any]
) -> None:
    client, policy = fleet.client, state["policy"]
    token = fleet.stack.create_join_token(client, group_ids=[fleet.group_id], max_uses=1)
    host = make_agent_host("deb", "deb-late")
    host.enroll_ok(token["token"], fleet.stack.enroll_address, fleet.stack.ca_fingerprint)
    host.start()
    wait_compliance(client, policy["id"], [host], compliant("1.1-1"), "the late node on 1.1-1")
    assert host.installed_version(SOFTWARE) == "1.1-1"
    state["late"] = host


def test_a_hand_removal_is_only_shown_in_report_mode_and_undone_in_enforce_mode(
    fleet: Fleet, state: dict[str, Any]
) -> None:
    client, policy = fleet.client, state["policy"]
    ok(client.patch(f"/api/v1/policies/{policy['id']}", json={"mode": "report"}))
    host = fleet.debs[0]
    remove_by_hand(host, SOFTWARE)

    def drifted(row: dict[str, Any]) -> bool:
        return row["state"] == "drifted" and row["installed_version"] == ""

    wait_compliance(client, policy["id"], [host], drifted, "the hand removal seen as drift")
    # Report mode: several reconcile intervals later the node is still without it, and no deployment came.
    before = len(policy_deployments(client, policy["id"]))
    time.sleep(3 * RECONCILE_SECONDS)
    assert host.installed_version(SOFTWARE) is None
    assert len(policy_deployments(client, policy["id"])) == before
    assert compliance(client, policy["id"])[host.node_id]["state"] == "drifted"

    ok(client.patch(f"/api/v1/policies/{policy['id']}", json={"mode": "enforce"}))
    wait_compliance(client, policy["id"], [host], compliant("1.1-1"), "the node corrected by enforce")
    assert host.installed_version(SOFTWARE) == "1.1-1"


def test_a_contradicting_policy_is_refused_naming_the_other(fleet: Fleet, state: dict[str, Any]) -> None:
    client, policy = fleet.client, state["policy"]
    response = client.post(
        "/api/v1/policies",
        json={
            "name": "sync-e2e pinned",
            "target": {"server_id": fleet.debs[1].node_id},
            "software_name": SOFTWARE,
            "version": "1.0-1",
            "state": "present",
            "mode": "enforce",
        },
    )
    assert response.status_code == 409, response.text
    assert policy["id"] in response.text and "sync-e2e latest" in response.text


def test_an_absent_policy_removes_the_software(fleet: Fleet, state: dict[str, Any]) -> None:
    client, policy = fleet.client, state["policy"]
    hosts = [*fleet.hosts, state["late"]]
    ok(client.patch(f"/api/v1/policies/{policy['id']}", json={"state": "absent"}))
    wait_compliance(
        client,
        policy["id"],
        hosts,
        lambda row: row["state"] == "compliant" and row["installed_version"] == "",
        "the software gone everywhere",
    )
    for host in hosts:
        assert host.installed_version(SOFTWARE) is None
    ok(client.delete(f"/api/v1/policies/{policy['id']}"), 204)


def test_a_node_that_keeps_failing_backs_off_and_the_rest_converge(
    fleet: Fleet, state: dict[str, Any]
) -> None:
    client = fleet.client
    upload(client, build_scripted_deb(fleet.workdir, FLAKY, "2.0-1"))
    broken, healthy = fleet.debs[1], [fleet.debs[0], state["late"]]
    set_failing(broken.root, FLAKY)
    policy = create_policy(
        client,
        name="flaky-e2e latest",
        target={"group_id": fleet.group_id},
        software_name=FLAKY,
        version="latest",
        state="present",
        mode="enforce",
        strategy={"max_failures": 10},
    )
    wait_compliance(client, policy["id"], healthy, compliant("2.0-1"), "the healthy nodes on 2.0-1")

    def gave_up(row: dict[str, Any]) -> bool:
        return row["state"] == "failed" and row["failed_attempts"] == MAX_ATTEMPTS and not row.get("retry_at")

    rows = wait_compliance(client, policy["id"], [broken], gave_up, "the broken node given up on")
    assert "exit" in rows[broken.node_id]["message"] or "fail" in rows[broken.node_id]["message"], rows
    assert rows[fleet.rpm.node_id]["state"] == "incompatible", rows  # no rpm build of it exists
    # Bounded: no attempt after giving up.
    attempts = len(policy_deployments(client, policy["id"]))
    time.sleep(2 * RECONCILE_SECONDS)
    assert len(policy_deployments(client, policy["id"])) == attempts
    assert broken.installed_version(FLAKY) is None


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What the ordered tests of this module hand on to each other."""
    return {}
