"""Fixtures of the end-to-end tests: a namespace network, the whole stack as processes, agent hosts.

When a test fails, the end of every service's and agent's log is printed with its report.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.postgres import LocalPostgres
from tests.support.agents import AgentHost, Family, Fleet
from tests.support.e2e_stack import LOG_SOURCES, E2EStack, e2e_stack, ok, wait_for
from tests.support.netns import Network

ONLINE_TIMEOUT = 60.0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed and LOG_SOURCES:
        report.sections.append(("service and agent logs", "\n".join(source() for source in LOG_SOURCES)))
    return report


@pytest.fixture(scope="module")
def e2e_network(request: pytest.FixtureRequest) -> Iterator[Network]:
    """Namespaces for the module's agent hosts: `E2E_HOSTS = n` in the module, default 3."""
    with Network(getattr(request.module, "E2E_HOSTS", 3)) as network:
        yield network


@pytest.fixture(scope="module")
def e2e(
    postgres: LocalPostgres,
    e2e_network: Network,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[E2EStack]:
    """The whole stack for one module, its node-facing ports on the network's bridge address; the module may
    set `E2E_ENV = {...}` to override settings."""
    workdir = tmp_path_factory.mktemp("e2e-stack")
    with e2e_stack(
        postgres, workdir, e2e_network.host_ip, env=getattr(request.module, "E2E_ENV", None)
    ) as stack:
        source = stack.logs
        LOG_SOURCES.append(source)
        try:
            yield stack
        finally:
            LOG_SOURCES.remove(source)


@pytest.fixture(scope="module")
def make_agent_host(
    e2e_network: Network, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Family, str], AgentHost]]:
    """`make_agent_host(family, hostname)`: the next free namespace as a node with a fresh sandbox root.
    Every agent is stopped at the end of the module."""
    workdir = tmp_path_factory.mktemp("agents")
    hosts: list[AgentHost] = []

    def make(family: Family, hostname: str) -> AgentHost:
        if len(hosts) >= len(e2e_network.namespaces):
            raise RuntimeError("no namespace left: raise E2E_HOSTS in the module")
        host = AgentHost(e2e_network.namespaces[len(hosts)], workdir, family, hostname)
        hosts.append(host)
        LOG_SOURCES.append(host.log_tail)
        return host

    try:
        yield make
    finally:
        for host in hosts:
            host.kill()
            LOG_SOURCES.remove(host.log_tail)


@pytest.fixture(scope="module")
def fleet(
    e2e: E2EStack,
    make_agent_host: Callable[[Family, str], AgentHost],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fleet]:
    """Group "web-e2e" with three agents (deb-1, deb-2, rpm-1) enrolled through the command line a
    three-use join token came with, each running and reported online."""
    with e2e.client() as client:
        group = ok(client.post("/api/v1/groups", json={"name": "web-e2e"}), 201)
        token = e2e.create_join_token(client, group_ids=[group["id"]], max_uses=3)
        argv = shlex.split(token["command"])
        server = argv[argv.index("--server") + 1]
        fingerprint = argv[argv.index("--ca-fingerprint") + 1]
        assert (server, fingerprint) == (e2e.enroll_address, e2e.ca_fingerprint), token["command"]

        hosts = [
            make_agent_host("deb", "deb-1"),
            make_agent_host("deb", "deb-2"),
            make_agent_host("rpm", "rpm-1"),
        ]
        for host in hosts:
            host.enroll_ok(token["token"], server, fingerprint)
            host.start()
        assert len({host.node_id for host in hosts}) == 3

        def all_online() -> bool:
            return all(
                ok(client.get(f"/api/v1/servers/{host.node_id}"))["status"] == "online" for host in hosts
            )

        wait_for(all_online, timeout=ONLINE_TIMEOUT, what="all three agents online")
        yield Fleet(e2e, client, group["id"], hosts[:2], hosts[2], tmp_path_factory.mktemp("packages"))
