"""Deployments that survive failures: an agent killed mid-download resumes where it stopped, a node cut off
during a rollout finishes after the link heals, a scheduler killed mid-rollout is restarted and the rollout
completes, two schedulers at once never dispatch twice. "Installed once" is read from the maintainer
scripts' own log in each sandbox root.

Downloads go through a throttled relay (the scheduler advertises it as the transfer address), so that a
large package takes seconds and there is a "middle of the download" to act in.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.postgres import LocalPostgres
from tests.support.agents import AgentHost, Fleet, build_scripted_deb
from tests.support.e2e_stack import (
    LOG_SOURCES,
    E2EStack,
    ThrottledProxy,
    create_deployment,
    describe,
    e2e_stack,
    ok,
    targets,
    upload,
    wait_for,
    wait_state,
)
from tests.support.netns import Network

E2E_HOSTS = 3
RATE = 16 * 1024 * 1024  # bytes per second and connection through the relay
BIG = 64 * 1024 * 1024
# A cut link is noticed by keepalive (the scheduler pings every 30 s and waits 20 s, the agent every 20 s and
# waits 10 s); then the scheduler's offline grace (5 s in the stack's TEST_TIMINGS) and its sweep. Generous.
OFFLINE_TIMEOUT = 180.0

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def proxy(e2e_network: Network) -> Iterator[ThrottledProxy]:
    relay = ThrottledProxy(e2e_network.host_ip, RATE)
    yield relay
    relay.close()


@pytest.fixture(scope="module")
def e2e(
    postgres: LocalPostgres,
    e2e_network: Network,
    proxy: ThrottledProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[E2EStack]:
    """The stack of this module: agents download through the throttled relay."""
    env = {"CONVOY_SCHEDULER_TRANSFER_ADVERTISE": proxy.address}
    with e2e_stack(postgres, tmp_path_factory.mktemp("e2e-stack"), e2e_network.host_ip, env=env) as stack:
        proxy.target = stack.transfer_address
        LOG_SOURCES.append(stack.logs)
        try:
            yield stack
        finally:
            LOG_SOURCES.remove(stack.logs)


def part_size(host: AgentHost, sha256: str) -> int:
    part = host.state_dir / "downloads" / f"{sha256}.part"
    return part.stat().st_size if part.exists() else 0


def installs(host: AgentHost, name: str, version: str) -> int:
    """How often the package's postinst configured `version` in the host's root."""
    return host.script_log(name).count(f"postinst configure {version}")


def server_status(fleet: Fleet, host: AgentHost) -> str:
    return str(ok(fleet.client.get(f"/api/v1/servers/{host.node_id}"))["status"])


def log_size(host: AgentHost) -> int:
    return host.log_file.stat().st_size if host.log_file.exists() else 0


def log_since(host: AgentHost, offset: int) -> str:
    """What the agent logged after `offset` bytes of its log file."""
    with host.log_file.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def state_of(fleet: Fleet, deployment_id: str, host: AgentHost) -> str:
    return str(targets(fleet.client, deployment_id)[host.node_id]["state"])


def test_agent_killed_mid_download_resumes_and_installs_once(fleet: Fleet, proxy: ThrottledProxy) -> None:
    client, name, host = fleet.client, "big-resume", fleet.debs[0]
    package = upload(client, build_scripted_deb(fleet.workdir, name, "1.0-1", payload_bytes=BIG))
    sha, size = package["artifact_sha256"], package["artifact_size"]
    deployment = create_deployment(
        client, package_id=package["id"], action="install", target={"server_id": host.node_id}
    )
    # A quarter in: kill -9, as a power cut would.
    wait_for(lambda: part_size(host, sha) >= size // 4, timeout=120, what="a quarter of the download")
    host.kill(signal.SIGKILL)
    kept = part_size(host, sha)
    assert 0 < kept < size
    restarted = time.monotonic()
    host.start()
    done = wait_state(client, deployment["id"])
    assert done["state"] == "succeeded", describe(client, deployment["id"])
    # It went on from the part file: what came through the relay after the restart is the rest, not all.
    fetched = proxy.bytes_since(restarted)
    assert fetched < size - kept // 2, (fetched, size, kept)
    assert host.installed_version(name) == "1.0-1"
    assert installs(host, name, "1.0-1") == 1, host.script_log(name)
    assert targets(client, deployment["id"])[host.node_id]["attempt"] == 1


def test_node_cut_off_during_rollout_finishes_after_the_link_heals(
    fleet: Fleet, proxy: ThrottledProxy
) -> None:
    client, name = fleet.client, "big-partition"
    cut, other = fleet.debs[1], fleet.debs[0]
    package = upload(client, build_scripted_deb(fleet.workdir, name, "1.0-1", payload_bytes=BIG))
    sha, size = package["artifact_sha256"], package["artifact_size"]
    deployment = create_deployment(
        client, package_id=package["id"], action="install", target={"group_id": fleet.group_id}
    )
    wait_for(lambda: part_size(cut, sha) >= size // 4, timeout=120, what="a quarter of the download")
    before_outage = log_size(cut)
    cut.ns.link_down()
    try:
        # The rest of the fleet is not held up by the missing node.
        wait_for(
            lambda: state_of(fleet, deployment["id"], other) == "succeeded",
            timeout=180,
            what="the other node done",
        )
        assert cut.installed_version(name) is None
        # The outage is noticed on both sides: the scheduler's end of the stream breaks (keepalive at the
        # latest), the grace runs out and the node is shown offline; the agent's end breaks as well.
        wait_for(
            lambda: server_status(fleet, cut) == "offline", timeout=OFFLINE_TIMEOUT, what="the node offline"
        )
        wait_for(
            lambda: "control stream lost" in log_since(cut, before_outage),
            timeout=OFFLINE_TIMEOUT,
            what="the agent to notice its stream is gone",
        )
        kept = part_size(cut, sha)
        assert 0 < kept < size, (kept, size)
        assert state_of(fleet, deployment["id"], cut) == "downloading"
    finally:
        # Taken while the link is still down: the agent reconnects the moment it is up.
        healed, after_outage = time.monotonic(), log_size(cut)
        cut.ns.link_up()
    wait_for(
        lambda: server_status(fleet, cut) == "online", timeout=OFFLINE_TIMEOUT, what="the node online again"
    )
    done = wait_state(client, deployment["id"], timeout=300)
    assert done["state"] == "succeeded", describe(client, deployment["id"])
    # "connected to … as node …": the agent came back on its own.
    assert f"as node {cut.node_id}" in log_since(cut, after_outage), cut.log_tail()
    # The download went on from the part file: what came through the relay after the link healed is the
    # rest of the package, not all of it.
    fetched = proxy.bytes_since(healed)
    assert 0 < fetched < size - kept // 2, (fetched, size, kept)
    assert targets(client, deployment["id"])[cut.node_id]["attempt"] == 1
    for host in fleet.debs:
        assert host.installed_version(name) == "1.0-1"
        assert installs(host, name, "1.0-1") == 1, host.script_log(name)


def test_scheduler_killed_mid_rollout_is_restarted_and_the_rollout_completes(fleet: Fleet) -> None:
    client, name, stack = fleet.client, "sched-restart", fleet.stack
    package = upload(client, build_scripted_deb(fleet.workdir, name, "1.0-1", payload_bytes=BIG // 2))
    deployment = create_deployment(
        client,
        package_id=package["id"],
        action="install",
        target={"group_id": fleet.group_id},
        strategy={"batch_size": 1},
    )

    def first_in_flight() -> bool:
        states = [t["state"] for t in targets(client, deployment["id"]).values()]
        return "downloading" in states or "installing" in states

    wait_for(first_in_flight, timeout=120, what="the first node at work")
    stack.kill("scheduler", signal.SIGKILL)
    stack.spawn("scheduler")
    stack.wait_ready()
    done = wait_state(client, deployment["id"], timeout=300)
    assert done["state"] == "succeeded", describe(client, deployment["id"])
    for host in fleet.debs:
        assert host.installed_version(name) == "1.0-1"
        assert installs(host, name, "1.0-1") == 1, host.script_log(name)
    assert all(t["attempt"] == 1 for t in targets(client, deployment["id"]).values())


def test_two_schedulers_never_dispatch_twice(fleet: Fleet, tmp_path: Path) -> None:
    client, stack = fleet.client, fleet.stack
    second = stack.start_replica("scheduler", "scheduler-2")
    try:
        deployments: list[dict[str, Any]] = []
        for index in range(3):
            name = f"twice-{index}"
            package = upload(client, build_scripted_deb(tmp_path, name, "1.0-1"))
            deployments.append(
                create_deployment(
                    client, package_id=package["id"], action="install", target={"group_id": fleet.group_id}
                )
            )
        for index, deployment in enumerate(deployments):
            done = wait_state(client, deployment["id"])
            assert done["state"] == "succeeded", describe(client, deployment["id"])
            for host in fleet.debs:
                assert installs(host, f"twice-{index}", "1.0-1") == 1, host.script_log(f"twice-{index}")
            assert all(t["attempt"] == 1 for t in targets(client, deployment["id"]).values())
        assert second.alive(), second.log_tail()
    finally:
        stack.kill("scheduler-2", signal.SIGTERM)
        del stack.services["scheduler-2"]
