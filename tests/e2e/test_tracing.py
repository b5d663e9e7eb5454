"""One deployment, one trace: the stack exports to a collector named only by the OTEL_* variables, and the trace
of the request that created a deployment goes on through the scheduler's database work and the dispatch of
its target to the node's download (transfer's side included) and install, which the node timed itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres
from tests.support.agents import AgentHost, Family, build_scripted_deb
from tests.support.e2e_stack import (
    LOG_SOURCES,
    E2EStack,
    create_deployment,
    describe,
    e2e_stack,
    ok,
    upload,
    wait_for,
    wait_state,
)
from tests.support.netns import Network
from tests.support.otlp import CLIENT, SERVER, CollectedSpan, Collector, running_collector

E2E_HOSTS = 1
SOFTWARE = "traced-e2e"
ONLINE_TIMEOUT = 60.0
EXPORT_TIMEOUT = 30.0
CREATE = "POST /api/v1/deployments"
CREATE_RPC = "/convoy.scheduler.v1.SchedulerService/CreateDeployment"
DOWNLOAD_RPC = "/convoy.transfer.v1.TransferService/Download"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, str]]:
    with running_collector() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    postgres: LocalPostgres,
    e2e_network: Network,
    tmp_path_factory: pytest.TempPathFactory,
    collector: tuple[Collector, str],
) -> Iterator[E2EStack]:
    """The whole stack, exporting its spans to `collector` quickly."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector[1],
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    workdir = tmp_path_factory.mktemp("traced-stack")
    with e2e_stack(postgres, workdir, e2e_network.host_ip, env=env) as stack:
        LOG_SOURCES.append(stack.logs)
        try:
            yield stack
        finally:
            LOG_SOURCES.remove(stack.logs)


@pytest.fixture(scope="module")
def node(traced_stack: E2EStack, make_agent_host: Callable[[Family, str], AgentHost]) -> AgentHost:
    """One enrolled deb node, online."""
    host = make_agent_host("deb", "traced-1")
    with traced_stack.client() as client:
        token = traced_stack.create_join_token(client, max_uses=1)
        host.enroll_ok(token["token"], traced_stack.enroll_address, traced_stack.ca_fingerprint)
        host.start()
        wait_for(
            lambda: ok(client.get(f"/api/v1/servers/{host.node_id}"))["status"] == "online",
            timeout=ONLINE_TIMEOUT,
            what="the node online",
        )
    return host


def test_a_deployment_is_one_trace_from_the_request_to_the_node(
    traced_stack: E2EStack, node: AgentHost, collector: tuple[Collector, str], tmp_path: Path
) -> None:
    receiver = collector[0]
    with traced_stack.client() as client:
        package = upload(client, build_scripted_deb(tmp_path, SOFTWARE, "1.0-1"))
        deployment = create_deployment(
            client, package_id=package["id"], action="install", target={"server_id": node.node_id}
        )
        final = wait_state(client, deployment["id"])
        assert final["state"] == "succeeded", describe(client, deployment["id"])

    spans = wait_for(
        lambda: _complete_trace(receiver, deployment["id"]),
        timeout=EXPORT_TIMEOUT,
        what="the deployment's whole trace at the collector",
    )
    by_id = {span.span_id: span for span in spans}
    roots = [span for span in spans if span.parent_span_id not in by_id]
    assert [(root.service, root.name, root.parent_span_id) for root in roots] == [
        ("convoy-gateway", CREATE, "")
    ], "\n".join(map(str, spans))

    dispatch = _one(spans, "convoy-scheduler", "dispatch")
    assert by_id[dispatch.parent_span_id].name == CREATE_RPC
    assert dispatch.attributes["convoy.server.id"] == node.node_id
    download, install = _one(spans, "convoy-agent", "download"), _one(spans, "convoy-agent", "install")
    assert download.parent_span_id == install.parent_span_id == dispatch.span_id
    assert download.attributes["convoy.package.name"] == install.attributes["convoy.package.name"] == SOFTWARE
    assert install.attributes["convoy.package.version"] == "1.0-1" and not install.failed
    assert download.attributes["convoy.package.bytes"] == package["artifact_size"]
    # Transfer joined the trace through the traceparent of the node's download call.
    served = _one(spans, "convoy-transfer", DOWNLOAD_RPC)
    assert served.kind == SERVER and served.parent_span_id == download.span_id


def test_a_download_streams_through_the_traced_gateway(
    traced_stack: E2EStack, collector: tuple[Collector, str], tmp_path: Path
) -> None:
    """The gateway reads transfer's stream through the tracing interceptor, and the call is in the trace."""
    deb = build_scripted_deb(tmp_path, "streamed-e2e", "1.0-1")
    with traced_stack.client() as client:
        package = upload(client, deb)
        response = client.get(f"/api/v1/packages/{package['id']}/content")
    assert response.status_code == 200 and response.content == deb.read_bytes()

    def served() -> list[CollectedSpan]:
        spans = collector[0].spans()
        requests = {s.trace_id for s in spans if s.name == "GET /api/v1/packages/{package_id}/content"}
        return [s for s in spans if s.trace_id in requests and s.name == DOWNLOAD_RPC and s.kind == SERVER]

    wait_for(served, timeout=EXPORT_TIMEOUT, what="transfer's Download in the request's trace")


def test_statements_outside_a_traced_operation_make_no_spans(
    traced_stack: E2EStack, collector: tuple[Collector, str]
) -> None:
    """Health probes and polling loops query all the time (they have since the stack started); none of
    that becomes a trace of its own, while a request's statements are in the request's trace."""
    receiver = collector[0]
    with traced_stack.client() as client:
        ok(client.get("/api/v1/deployments"))

    def listed() -> list[CollectedSpan]:
        requests = [span for span in receiver.spans() if span.name == "GET /api/v1/deployments"]
        return [span for span in requests if any(map(_statement, receiver.trace(span.trace_id)))]

    wait_for(listed, timeout=EXPORT_TIMEOUT, what="the listing's statements at the collector")
    statements = [span for span in receiver.spans() if _statement(span)]
    assert all(span.parent_span_id for span in statements), [
        str(s) for s in statements if not s.parent_span_id
    ]


def _complete_trace(receiver: Collector, deployment_id: str) -> list[CollectedSpan] | None:
    """The spans of the trace whose dispatch span names the deployment, once every part has arrived."""
    dispatches = [
        span
        for span in receiver.spans()
        if span.name == "dispatch" and span.attributes.get("convoy.deployment.id") == deployment_id
    ]
    if not dispatches:
        return None
    spans = receiver.trace(dispatches[0].trace_id)
    found = {(span.service, span.name) for span in spans}
    wanted = {
        ("convoy-gateway", CREATE),
        ("convoy-scheduler", CREATE_RPC),
        ("convoy-agent", "download"),
        ("convoy-agent", "install"),
        ("convoy-transfer", DOWNLOAD_RPC),
    }
    statements = [span for span in spans if span.service == "convoy-scheduler" and _statement(span)]
    return spans if wanted <= found and statements else None


def _statement(span: CollectedSpan) -> bool:
    """A database client span (either generation of the semantic conventions)."""
    return span.kind == CLIENT and bool({"db.system", "db.system.name"} & span.attributes.keys())


def _one(spans: list[CollectedSpan], service: str, name: str) -> CollectedSpan:
    matching = [span for span in spans if (span.service, span.name) == (service, name)]
    assert len(matching) == 1, f"{service} {name}: {[str(span) for span in matching]}"
    return matching[0]
