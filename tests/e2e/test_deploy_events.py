"""Server-Sent Events end to end: every state change of every target of a deployment to the three nodes, in
order, through GET /api/v1/events; the same events for a client that watches only that deployment while
another one runs; and after a reconnect with Last-Event-ID, exactly the rest.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

import pytest

from tests.support.agents import Fleet, build_scripted_deb, build_scripted_tarball
from tests.support.e2e_stack import (
    Event,
    EventStream,
    create_deployment,
    describe,
    get_deployment,
    targets,
    upload,
    wait_for,
    wait_state,
)

E2E_HOSTS = 3

pytestmark = pytest.mark.timeout(600)

# The life of one attempt as its events tell it, repeated states (progress) folded: a target is created
# pending (or, when the rollout reaches it in the same transaction, assigned), or skipped at once.
INSTALLED = ["assigned", "downloading", "installing", "succeeded"]
# Every target appears from its first state on: pending, or skipped when it cannot take the package.
LEGAL_PATHS = {
    "succeeded": (["pending", *INSTALLED],),
    "skipped": (["skipped"],),
}


def as_tuples(events: list[Event]) -> list[tuple[int, str, dict[str, Any]]]:
    return [(event.sequence, event.kind, event.data) for event in events]


def state_paths(events: list[Event]) -> dict[tuple[str, int], list[str]]:
    """Each target attempt's states in the order of the events, repeats folded."""
    states: dict[tuple[str, int], list[str]] = {}
    for event in events:
        if event.kind == "target":
            target = event.data["target"]
            states.setdefault((target["server_id"], target["attempt"]), []).append(target["state"])
    return {key: [state for state, _ in groupby(path)] for key, path in states.items()}


def test_events_of_a_deployment_in_order_and_the_rest_after_a_reconnect(fleet: Fleet) -> None:
    client = fleet.client
    package = upload(client, build_scripted_deb(fleet.workdir, "events-e2e", "1.0-1"))
    other_package = upload(client, build_scripted_tarball(fleet.workdir, "events-other", "1.0"))

    # Opened before either deployment exists: every event of every deployment, as it happens.
    with EventStream(fleet.stack) as everything:
        # Another deployment runs at the same time (to the rpm node, which the deb package skips): its
        # events are on the unfiltered stream only.
        other = create_deployment(
            client, package_id=other_package["id"], action="install", target={"server_id": fleet.rpm.node_id}
        )
        deployment = create_deployment(
            client, package_id=package["id"], action="install", target={"group_id": fleet.group_id}
        )
        deployment_id = deployment["id"]
        first = wait_for(
            lambda: everything.of(deployment_id), timeout=60, what="the first event of the deployment"
        )[0]

        # Watching only this deployment, from just before its first event: the kept ones, then live ones.
        with EventStream(fleet.stack, deployment_id, last_event_id=first.sequence - 1) as watched:
            live = everything.wait_final(deployment_id)
            final = wait_state(client, deployment_id)
            assert final["state"] == "succeeded", describe(client, deployment_id)
            assert wait_state(client, other["id"])["state"] == "succeeded", describe(client, other["id"])
            seen = watched.wait_idle(len(live))
        # Nothing after the event that shows the deployment final.
        assert as_tuples(everything.of(deployment_id)) == as_tuples(live)
        assert everything.of(other["id"]), "the other deployment's events are missing"

    # The watcher saw exactly what the unfiltered stream saw of this deployment, nothing of the other one.
    assert as_tuples(seen) == as_tuples(live)
    assert all(event.data["deployment_id"] == deployment_id for event in seen)

    # In order: sequence numbers strictly increase.
    sequences = [event.sequence for event in seen]
    assert all(a < b for a, b in zip(sequences, sequences[1:], strict=False)), sequences

    # Every state change of every target, each along the legal path, ending where REST says it is.
    found = targets(client, deployment_id)
    paths = state_paths(seen)
    for (server_id, attempt), path in paths.items():
        target = found[server_id]
        assert attempt == target["attempt"] == 1
        assert path[-1] == target["state"], (server_id, path, target)
        assert path in LEGAL_PATHS[target["state"]], f"{fleet.host(server_id)}: {path}"
    assert {server_id for server_id, _ in paths} == {host.node_id for host in fleet.hosts}, paths
    assert all(paths[(host.node_id, 1)][-1] == "succeeded" for host in fleet.debs), paths
    # A target created skipped never changes state: its one event is its creation.
    assert paths[(fleet.rpm.node_id, 1)] == ["skipped"]
    created = next(event for event in seen if event.kind == "deployment")
    assert created.data["deployment"]["counts"]["skipped"] == 1, created.data

    # The last deployment event is the final state, with the counts GET /api/v1/deployments/{id} has.
    last = [event for event in seen if event.kind == "deployment"][-1]
    assert last is seen[-1], as_tuples(seen[-3:])
    current = get_deployment(client, deployment_id)
    assert last.data["deployment"]["state"] == current["state"] == "succeeded"
    assert last.data["deployment"]["counts"] == current["counts"], (last.data, current)
    assert current["counts"]["succeeded"] == 2 and current["counts"]["skipped"] == 1, current["counts"]

    # A client that reconnects with the id of an event in the middle gets exactly the rest, then silence.
    middle = len(seen) // 2
    with EventStream(fleet.stack, deployment_id, last_event_id=seen[middle].sequence) as resumed:
        rest = resumed.wait_idle(len(seen) - middle - 1)
    assert as_tuples(rest) == as_tuples(seen[middle + 1 :])
