"""Rollout strategy end to end: batches of one node at a time (from the recorded event timeline), a failing
postinst that pauses a deployment without failure budget, resume, retry and cancel; SSE in order."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.agents import Fleet, build_scripted_deb, build_scripted_tarball
from tests.support.e2e_stack import (
    IN_FLIGHT_STATES,
    EventStream,
    create_deployment,
    describe,
    ok,
    target_log,
    targets,
    upload,
    wait_state,
)
from tests.support.sandbox import set_failing

E2E_HOSTS = 3

pytestmark = pytest.mark.timeout(900)

# Where each target state sits in the life of one attempt: an attempt's events never go backwards.
LIFECYCLE = {
    "pending": 0,
    "assigned": 1,
    "downloading": 2,
    "awaiting_approval": 3,
    "installing": 4,
    "succeeded": 5,
    "unchanged": 5,
    "failed": 5,
    "skipped": 5,
    "cancelled": 5,
}


def test_batch_size_one_never_has_two_nodes_in_flight(fleet: Fleet) -> None:
    client = fleet.client
    package = upload(client, build_scripted_tarball(fleet.workdir, "one-by-one", "1.0"))
    with EventStream(fleet.stack) as stream:
        deployment = create_deployment(
            client,
            package_id=package["id"],
            action="install",
            target={"group_id": fleet.group_id},
            strategy={"batch_size": 1},
        )
        events = stream.wait_final(deployment["id"])
    final = events[-1].data["deployment"]
    assert final["state"] == "succeeded", describe(client, deployment["id"])

    # Delivered in order: sequence numbers only grow.
    sequences = [event.sequence for event in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences), sequences

    # The timeline: after every event, at most one node is assigned, downloading or installing.
    states: dict[tuple[str, int], str] = {}
    most_in_flight = 0
    for event in events:
        if event.kind != "target":
            continue
        target = event.data["target"]
        key = (target["server_id"], target["attempt"])
        before = states.get(key)
        if before is not None:
            assert LIFECYCLE[target["state"]] >= LIFECYCLE[before], f"{key}: {before} after {target['state']}"
        states[key] = target["state"]
        in_flight = [k for k, state in states.items() if state in IN_FLIGHT_STATES]
        most_in_flight = max(most_in_flight, len(in_flight))
        assert len(in_flight) <= 1, f"two nodes in flight at event {event.sequence}: {in_flight}"
    assert most_in_flight == 1
    # Every node went through the rollout in its own batch, and the stream saw each one succeed.
    found = targets(client, deployment["id"])
    assert sorted(target["batch"] for target in found.values()) == [1, 2, 3], found
    assert {key[0] for key, state in states.items() if state == "succeeded"} == {
        h.node_id for h in fleet.hosts
    }
    # The REST view agrees with the last event of each target.
    for server_id, target in found.items():
        assert states[(server_id, target["attempt"])] == target["state"] == "succeeded"


def test_failing_postinst_pauses_then_resume_and_retry(fleet: Fleet) -> None:
    client, name = fleet.client, "flaky-e2e"
    package = upload(client, build_scripted_deb(fleet.workdir, name, "1.0-1"))
    body: dict[str, Any] = {
        "package_id": package["id"],
        "action": "install",
        "target": {"group_id": fleet.group_id},
        # max_failures 0 (the default): the first failure pauses the deployment.
        "strategy": {"batch_size": 1, "max_failures": 0},
    }
    preview = ok(client.post("/api/v1/deployments", json={**body, "dry_run": True}), 200, 201)
    assert preview["deployment"] is None
    batches = {item["server_id"]: item["batch"] for item in preview["resolved"]}
    assert sorted(batches.values()) == [1, 2], preview  # the rpm node is no target for a deb
    first = fleet.host(min(batches, key=batches.__getitem__))
    second = fleet.host(max(batches, key=batches.__getitem__))
    set_failing(first.root, name)

    deployment = create_deployment(client, **body)
    paused = wait_state(client, deployment["id"], ("paused",))
    assert "fail" in paused["state_reason"], paused
    found = targets(client, deployment["id"])
    assert found[first.node_id]["state"] == "failed", describe(client, deployment["id"])
    assert found[second.node_id]["state"] == "pending", found
    assert f"postinst fails: /etc/{name}.fail exists" in target_log(client, deployment["id"], first.node_id)
    half = first.dpkg_query(name)
    assert half is not None and not half[1].startswith("ii"), half
    assert second.dpkg_query(name) is None

    # Resume: the failure is accepted, the next batch goes out; one target failed, so the deployment fails.
    ok(client.post(f"/api/v1/deployments/{deployment['id']}/resume"))
    done = wait_state(client, deployment["id"])
    assert done["state"] == "failed", describe(client, deployment["id"])
    found = targets(client, deployment["id"])
    assert found[second.node_id]["state"] == "succeeded", describe(client, deployment["id"])
    assert second.installed_version(name) == "1.0-1"
    assert found[first.node_id]["attempt"] == 1

    # Retry (the node is fixed now): a new attempt for the failed node only, and the deployment succeeds.
    set_failing(first.root, name, False)
    retried = ok(client.post(f"/api/v1/deployments/{deployment['id']}/retry", json={}))
    assert retried["retried"] == 1, retried
    done = wait_state(client, deployment["id"])
    assert done["state"] == "succeeded", describe(client, deployment["id"])
    found = targets(client, deployment["id"])
    assert (found[first.node_id]["attempt"], found[first.node_id]["state"]) == (2, "succeeded"), found
    assert found[second.node_id]["attempt"] == 1
    assert first.installed_version(name) == "1.0-1"
    # The second node installed once: its postinst ran once.
    assert second.script_log(name).count("postinst configure 1.0-1") == 1


def test_canary_pause_then_cancel_dispatches_nothing_more(fleet: Fleet) -> None:
    client, name = fleet.client, "canary-e2e"
    package = upload(client, build_scripted_deb(fleet.workdir, name, "1.0-1"))
    deployment = create_deployment(
        client,
        package_id=package["id"],
        action="install",
        target={"group_id": fleet.group_id},
        strategy={"batch_size": 1, "canary": True},
    )
    paused = wait_state(client, deployment["id"], ("paused",))
    found = targets(client, deployment["id"])
    runnable = {sid: t for sid, t in found.items() if t["state"] != "skipped"}
    canary = next(sid for sid, t in runnable.items() if t["batch"] == 1)
    rest = next(sid for sid, t in runnable.items() if t["batch"] == 2)
    assert runnable[canary]["state"] == "succeeded", describe(client, deployment["id"])
    assert runnable[rest]["state"] == "pending", paused
    assert fleet.host(canary).installed_version(name) == "1.0-1"

    cancelled = ok(client.post(f"/api/v1/deployments/{deployment['id']}/cancel", json={"reason": "enough"}))
    assert cancelled["state"] == "cancelled", cancelled
    found = targets(client, deployment["id"])
    assert found[rest]["state"] == "cancelled", found
    assert fleet.host(rest).dpkg_query(name) is None
    # A cancelled deployment cannot be resumed.
    refused = client.post(f"/api/v1/deployments/{deployment['id']}/resume")
    assert refused.status_code == 409, refused.text
