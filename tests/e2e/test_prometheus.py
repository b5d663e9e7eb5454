"""A real Prometheus scrapes the whole stack and two agents in network namespaces while a deployment runs with
one node failing; then every query of the dashboards and every rule returns data, and the failure shows in
the rollout failure ratio.

Prometheus runs the component's in-cluster configuration with the Kubernetes discovery swapped for static
targets carrying the labels that discovery gives Convoy's pods, so the shipped relabelling names the jobs
(convoy-auth … convoy-gateway, convoy-agent) and the shipped rule file is evaluated every second.
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack.launcher import LOOPBACK
from devstack.ports import free_port
from tests.observability.expressions import COMPONENT, RULES, Query, dashboard_queries, rule_queries
from tests.support.agents import AgentHost, Family, build_scripted_deb
from tests.support.e2e_stack import (
    E2EStack,
    create_deployment,
    describe,
    ok,
    targets,
    upload,
    wait_for,
    wait_state,
)
from tests.support.sandbox import set_failing

E2E_HOSTS = 2
# Database gauges refreshed and reconciler passes run every few seconds instead of every 15 s / minute.
E2E_ENV = {
    "CONVOY_INVENTORY_STATS_SECONDS": "1",
    "CONVOY_SCHEDULER_STATS_SECONDS": "1",
    "CONVOY_SCHEDULER_RECONCILE_SECONDS": "2",
}
SERVICES = ("auth", "inventory", "transfer", "catalog", "scheduler", "gateway")
JOBS = {f"convoy-{name}" for name in (*SERVICES, "agent")}
# Each agent has a namespace of its own, so the same port serves on every node's address.
AGENT_METRICS_PORT = 9100
# What $__rate_interval becomes: long enough that the deployment's events stay inside the window while the
# queries are polled, on a Prometheus that holds only a few minutes of samples anyway.
WINDOW = "5m"
READY_TIMEOUT = 60.0
TARGETS_TIMEOUT = 60.0
QUERY_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
ONLINE_TIMEOUT = 60.0
HTTP_TIMEOUT = 10.0

pytestmark = pytest.mark.timeout(600)


# --- Prometheus ----------------------------------------------------------------------------------------------


@dataclass
class Prometheus:
    """A running Prometheus and its HTTP API."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, f"{path} {params}: {response.status_code} {response.text}"
        return response.json()["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now."""
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        result: list[dict[str, Any]] = data["result"]
        return result

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- last lines of {self.log} ---\n" + "\n".join(text.splitlines()[-lines:])


def pod_targets(name: str, addresses: list[str]) -> list[dict[str, Any]]:
    """Static targets labelled as Kubernetes pod discovery labels a Convoy pod's "metrics" port."""
    return [
        {
            "targets": [address],
            "labels": {
                "__meta_kubernetes_pod_label_app_kubernetes_io_part_of": "convoy",
                "__meta_kubernetes_pod_label_app_kubernetes_io_name": name,
                "__meta_kubernetes_pod_container_port_name": "metrics",
                "__meta_kubernetes_pod_phase": "Running",
                "__meta_kubernetes_pod_name": f"{name}-{index}",
                "__meta_kubernetes_namespace": "convoy-e2e",
            },
        }
        for index, address in enumerate(addresses)
    ]


def write_config(path: Path, scrape: dict[str, list[str]]) -> None:
    """The in-cluster configuration, scraping and evaluating every second, on static pod targets."""
    config = yaml.safe_load((COMPONENT / "prometheus" / "kubernetes.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    [job] = config["scrape_configs"]
    del job["kubernetes_sd_configs"]
    job["static_configs"] = [group for name, addrs in scrape.items() for group in pod_targets(name, addrs)]
    path.write_text(yaml.safe_dump(config))


@contextlib.contextmanager
def run_prometheus(workdir: Path, scrape: dict[str, list[str]]) -> Iterator[Prometheus]:
    """Starts `prometheus` on a free loopback port with its data in `workdir`; stops it on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    write_config(config, scrape)
    address = f"{LOOPBACK}:{free_port()}"
    log = workdir / "prometheus.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={address}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    prometheus = Prometheus(f"http://{address}", proc, log)
    try:
        wait_for(lambda: _ready(prometheus), timeout=READY_TIMEOUT, what="Prometheus ready")
        yield prometheus
    finally:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)


def _ready(prometheus: Prometheus) -> bool:
    if prometheus.proc.poll() is not None:
        raise AssertionError(f"prometheus exited with {prometheus.proc.returncode}\n{prometheus.log_tail()}")
    try:
        return httpx.get(f"{prometheus.url}/-/ready", timeout=HTTP_TIMEOUT).status_code == 200
    except httpx.TransportError:
        return False


def jobs_up(prometheus: Prometheus) -> dict[str, list[str]]:
    """The health and last error of every active target, by job."""
    found: dict[str, list[str]] = {}
    for target in prometheus.get("/api/v1/targets")["activeTargets"]:
        found.setdefault(target["labels"]["job"], []).append(
            target["health"] + (f" ({target['lastError']})" if target["lastError"] else "")
        )
    return found


def finite(result: list[dict[str, Any]]) -> bool:
    """Whether a query answered at least one number (NaN is what a ratio of nothing gives, not data)."""
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def poll_all(
    prometheus: Prometheus, queries: list[Query], timeout: float, between: Callable[[], object]
) -> dict[Query, Any]:
    """Queries every expression until each has answered a number once, or `timeout` passes; what the ones
    that never did answered last. `between` runs before each round: the traffic of a stack in use."""
    pending = {query: None for query in queries}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        between()
        for query in list(pending):
            result = prometheus.query(query.expr)
            if finite(result):
                del pending[query]
            else:
                pending[query] = result
        time.sleep(1.0)
    return pending


# --- the stack ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agents(e2e: E2EStack, make_agent_host: Callable[[Family, str], AgentHost]) -> tuple[str, list[AgentHost]]:
    """(group id, two deb nodes) enrolled into one group, each agent serving metrics on its own address."""
    with e2e.client() as client:
        group = ok(client.post("/api/v1/groups", json={"name": "metrics-e2e"}), 201)
        token = e2e.create_join_token(client, group_ids=[group["id"]], max_uses=2)
        argv = shlex.split(token["command"])
        server, fingerprint = argv[argv.index("--server") + 1], argv[argv.index("--ca-fingerprint") + 1]
        hosts = [make_agent_host("deb", "metrics-1"), make_agent_host("deb", "metrics-2")]
        for host in hosts:
            host.enroll_ok(token["token"], server, fingerprint)
            # What an operator writes into agent.json to open the node's metrics port.
            values = {**host.config, "metrics_listen": f"{host.ip}:{AGENT_METRICS_PORT}"}
            host.config_file.write_text(json.dumps(values, indent=2))
            host.start()

        def online() -> bool:
            return all(
                ok(client.get(f"/api/v1/servers/{host.node_id}"))["status"] == "online" for host in hosts
            )

        wait_for(online, timeout=ONLINE_TIMEOUT, what="both agents online")
    return group["id"], hosts


def scrape_targets(e2e: E2EStack, hosts: list[AgentHost]) -> dict[str, list[str]]:
    """Every process's metrics address, by the name its pod would carry."""
    scrape = {name: [e2e.env[f"CONVOY_{name.upper()}_METRICS_LISTEN"]] for name in SERVICES}
    scrape["agent"] = [f"{host.ip}:{AGENT_METRICS_PORT}" for host in hosts]
    return scrape


def refuse_an_upload(e2e: E2EStack, prometheus: Prometheus) -> None:
    """Uploads a file that is no package, which transfer refuses, and waits until Prometheus has seen the
    upload's series: a series is born with its first call, and rate() only sees what comes after."""
    with e2e.client() as client:
        refused = client.post(
            "/api/v1/packages", files={"file": ("junk.deb", b"no package at all\n" * 64, "application/x-deb")}
        )
    assert 400 <= refused.status_code < 500, refused.text
    wait_for(
        lambda: prometheus.query('convoy_grpc_server_handled_total{job="convoy-transfer",method="Upload"}'),
        timeout=QUERY_TIMEOUT,
        what="the refused upload scraped",
    )


def deploy_with_one_failure(e2e: E2EStack, group_id: str, hosts: list[AgentHost], workdir: Path) -> None:
    """Installs a deb on both nodes with the first node's postinst failing; one target fails, one succeeds."""
    name = "metrics-e2e"
    with e2e.client() as client:
        package = upload(client, build_scripted_deb(workdir, name, "1.0-1"))
        set_failing(hosts[0].root, name)
        deployment = create_deployment(
            client,
            package_id=package["id"],
            action="install",
            target={"group_id": group_id},
            strategy={"batch_size": 2, "max_failures": 1},
        )
        wait_state(client, deployment["id"])
        found = targets(client, deployment["id"])
        states = {host.hostname: found[host.node_id]["state"] for host in hosts}
        assert states == {"metrics-1": "failed", "metrics-2": "succeeded"}, describe(client, deployment["id"])


# --- the test --------------------------------------------------------------------------------------------------


def test_every_dashboard_and_rule_query_returns_data(
    e2e: E2EStack, agents: tuple[str, list[AgentHost]], tmp_path: Path
) -> None:
    group_id, hosts = agents
    with run_prometheus(tmp_path / "prometheus", scrape_targets(e2e, hosts)) as prometheus:

        def all_up() -> bool:
            found = jobs_up(prometheus)
            return set(found) == JOBS and all(h == "up" for healths in found.values() for h in healths)

        try:
            wait_for(all_up, timeout=TARGETS_TIMEOUT, what="every Convoy job scraped")
        except AssertionError:
            raise AssertionError(f"targets: {jobs_up(prometheus)}\n{prometheus.log_tail()}") from None
        assert len(jobs_up(prometheus)["convoy-agent"]) == len(hosts)

        refuse_an_upload(e2e, prometheus)
        deploy_with_one_failure(e2e, group_id, hosts, tmp_path / "packages")

        # The failed target reaches the recorded failure ratio the alert reads: 1 of 2.
        def failure_ratio() -> list[float]:
            return [float(s["value"][1]) for s in prometheus.query("convoy:targets_failed:ratio_rate1h")]

        wait_for(
            lambda: [ratio for ratio in failure_ratio() if math.isclose(ratio, 0.5)],
            timeout=QUERY_TIMEOUT,
            what="a failure ratio of 0.5",
        )
        queries = [*rule_queries(), *dashboard_queries(WINDOW)]
        # A request rate needs requests after a series' first scrape; the deployment's burst of requests
        # may all fall between two scrapes. Someone watching the console keeps them coming.
        with e2e.client() as client:
            silent = poll_all(
                prometheus, queries, QUERY_TIMEOUT, lambda: ok(client.get("/api/v1/deployments?limit=5"))
            )
        assert not silent, "queries without data:\n" + "\n".join(
            f"{query.origin}: {query.expr!r} -> {result}" for query, result in silent.items()
        )
