"""The Kubernetes overlays as an operator applies them: valid, every workload probed, locked down and sized,
the edge highly available in prod, and network policies that open exactly what Convoy needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.manifests import (
    GRPC_SERVICES,
    OVERLAYS,
    REPO,
    WORKLOAD_KINDS,
    containers,
    documents,
    pod_spec,
    python,
    render_overlay,
    run_tool,
    setting_variables,
)

Doc = dict[str, Any]
EDGE = ("gateway", "scheduler", "transfer")
CONVOY = ("app.kubernetes.io/part-of", "convoy")
NAME = "app.kubernetes.io/name"


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, str]:
    """An overlay's name and `kubectl kustomize` output."""
    return request.param, render_overlay(request.param)


@pytest.fixture(scope="module")
def docs(overlay: tuple[str, str]) -> list[Doc]:
    return documents(overlay[1])


def of_kind(docs: list[Doc], *kinds: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] in kinds]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"].get("labels", {})
    return labels


def is_convoy(workload: Doc) -> bool:
    return pod_labels(workload).get(CONVOY[0]) == CONVOY[1]


def runs_convoy(container: Doc) -> bool:
    """A container of our image: it runs one of our Python modules."""
    return any("services." in part for part in container.get("command", []))


def env_of(container: Doc) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def security_problems(workload: Doc, container: Doc) -> list[str]:
    pod = pod_spec(workload).get("securityContext", {})
    own = container.get("securityContext", {})

    def effective(key: str) -> Any:
        return own.get(key, pod.get(key))

    user = effective("runAsUser")
    checks = {
        "runAsNonRoot": effective("runAsNonRoot") is True,
        "runAsUser (not root)": isinstance(user, int) and user > 0,
        "runAsUser 10001": user == 10001 or not runs_convoy(container),
        "readOnlyRootFilesystem": own.get("readOnlyRootFilesystem") is True,
        "allowPrivilegeEscalation false": own.get("allowPrivilegeEscalation") is False,
        "capabilities drop ALL": "ALL" in own.get("capabilities", {}).get("drop", []),
        "seccomp RuntimeDefault": (effective("seccompProfile") or {}).get("type") == "RuntimeDefault",
    }
    return [name for name, ok in checks.items() if not ok]


def resource_problems(container: Doc) -> list[str]:
    resources = container.get("resources", {})
    return [
        f"{kind}.{resource}"
        for kind in ("requests", "limits")
        for resource in ("cpu", "memory")
        if resource not in resources.get(kind, {})
    ]


def test_the_overlay_passes_strict_validation(overlay: tuple[str, str], tmp_path: Path) -> None:
    name, rendered = overlay
    manifests = tmp_path / f"{name}.yaml"
    manifests.write_text(rendered)
    done = run_tool(python(), "-m", "kubernetes_validate", "--strict", "--quiet", str(manifests))
    assert done.returncode == 0, f"k8s/overlays/{name} does not validate:\n{done.stdout}{done.stderr}"


def test_every_workload_is_probed_locked_down_and_sized(docs: list[Doc]) -> None:
    workloads = of_kind(docs, *WORKLOAD_KINDS)
    assert workloads, "the overlay has no workload"
    problems = []
    for workload in workloads:
        where = f"{workload['kind']} {workload['metadata']['name']}"
        for container in containers(workload):
            at = f"{where}, container {container['name']}"
            problems += [f"{at}: securityContext {item}" for item in security_problems(workload, container)]
            problems += [f"{at}: resources {item}" for item in resource_problems(container)]
        if workload["kind"] != "Job":
            for container in pod_spec(workload)["containers"]:
                problems += [
                    f"{where}, container {container['name']}: no {probe}"
                    for probe in ("readinessProbe", "livenessProbe")
                    if probe not in container
                ]
    assert not problems, "\n".join(problems)


def test_grpc_services_are_probed_natively_on_their_plaintext_health_port(docs: list[Doc]) -> None:
    for svc in GRPC_SERVICES:
        container = pod_spec(named(docs, "Deployment", svc))["containers"][0]
        health = int(env_of(container)[f"CONVOY_{svc.upper()}_HEALTH_LISTEN"].rpartition(":")[2])
        readiness, liveness = container["readinessProbe"], container["livenessProbe"]
        assert readiness.get("grpc", {}).get("port") == health, (
            f"{svc}: readiness is a gRPC probe on {health}"
        )
        assert readiness["grpc"].get("service", "") == "", f"{svc}: readiness asks for the whole process"
        # Liveness must not follow the database: a database outage would restart every pod.
        assert liveness.get("grpc") == {"port": health, "service": "grpc.health.v1.Health"}, svc


def test_the_gateway_is_probed_over_https(docs: list[Doc]) -> None:
    container = pod_spec(named(docs, "Deployment", "gateway"))["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        action = container[probe].get("httpGet", {})
        assert action.get("scheme") == "HTTPS" and action.get("path") == "/healthz", probe
    env = env_of(container)
    assert env["CONVOY_GATEWAY_HTTPS_CERT"] and env["CONVOY_GATEWAY_HTTPS_KEY"]


def test_pods_carry_what_the_observability_component_relies_on(docs: list[Doc]) -> None:
    for svc in (*GRPC_SERVICES, "gateway"):
        assert is_convoy(named(docs, "Deployment", svc)), f"{svc}: pods labelled {CONVOY[0]}={CONVOY[1]}"
    for svc in (*GRPC_SERVICES, "gateway"):
        container = pod_spec(named(docs, "Deployment", svc))["containers"][0]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports.get("metrics") == 9100, f"{svc}: container port 'metrics' is 9100"
        assert env_of(container)[f"CONVOY_{svc.upper()}_METRICS_LISTEN"] == "0.0.0.0:9100", svc


def test_the_load_balancer_publishes_the_gateways_https_port_only(docs: list[Doc]) -> None:
    service = named(docs, "Service", "gateway")
    assert service["spec"]["type"] == "LoadBalancer"
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["https"], "metrics stay private"


def test_convoy_pods_get_no_api_token(docs: list[Doc]) -> None:
    accounts = {doc["metadata"]["name"]: doc for doc in of_kind(docs, "ServiceAccount")}
    for workload in filter(is_convoy, of_kind(docs, *WORKLOAD_KINDS)):
        spec = pod_spec(workload)
        account = spec.get("serviceAccountName", "default")
        assert account in accounts, (
            f"{workload['metadata']['name']} runs as a ServiceAccount not defined here"
        )
        assert accounts[account].get("automountServiceAccountToken") is False, account
        assert spec.get("automountServiceAccountToken") is False, workload["metadata"]["name"]


def test_each_pod_gets_only_its_own_keys(docs: list[Doc]) -> None:
    for workload in filter(is_convoy, of_kind(docs, *WORKLOAD_KINDS)):
        name = workload["metadata"]["name"]
        files = {
            item["path"]
            for volume in pod_spec(workload).get("volumes", [])
            for item in volume.get("secret", {}).get("items", [])
        }
        assert "ca-key.pem" not in files, f"{name} must not hold the service CA's key"
        assert ("node-ca-key.pem" in files) == (name == "auth"), "only auth holds the node CA's key"
        others = {f"{svc}-key.pem" for svc in (*GRPC_SERVICES, "gateway") if svc != name}
        assert not files & others, f"{name} holds another service's key: {sorted(files & others)}"


def test_the_migrate_job_runs_every_migration_and_creates_the_admin(docs: list[Doc]) -> None:
    job = named(docs, "Job", "migrate")
    script = " ".join(pod_spec(job)["containers"][0]["command"])
    for svc in GRPC_SERVICES:
        assert f"python -m services.{svc} migrate" in script, f"the migrate Job skips {svc}"
    assert "services.auth create-admin" in script


def test_every_convoy_variable_is_a_setting_a_service_reads(docs: list[Doc]) -> None:
    known = setting_variables()
    for workload in filter(is_convoy, of_kind(docs, *WORKLOAD_KINDS)):
        for container in containers(workload):
            for item in container.get("env", []):
                if item["name"].startswith("CONVOY_"):
                    assert item["name"] in known, (
                        f"{workload['metadata']['name']}: nobody reads {item['name']}"
                    )


def test_no_secret_is_committed(docs: list[Doc]) -> None:
    for secret in of_kind(docs, "Secret"):
        assert not secret.get("data") and not secret.get("stringData"), secret["metadata"]["name"]
    for path in [*REPO.joinpath("k8s").rglob("*"), *REPO.glob("compose*.yaml")]:
        if path.is_file():
            assert "PRIVATE KEY" not in path.read_text(errors="replace"), f"{path} holds a private key"


def test_prod_runs_the_edge_highly_available() -> None:
    docs = documents(render_overlay("prod"))
    for svc in EDGE:
        deployment = named(docs, "Deployment", svc)
        assert deployment["spec"]["replicas"] >= 2, f"{svc}: at least two replicas"
        hpa = named(docs, "HorizontalPodAutoscaler", svc)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc}
        assert hpa["spec"]["minReplicas"] >= 2, f"{svc}: the autoscaler keeps two replicas at least"
        pdb = named(docs, "PodDisruptionBudget", svc)
        assert selects(pdb["spec"]["selector"], pod_labels(deployment)), f"{svc}: its PodDisruptionBudget"
        spread = pod_spec(deployment).get("topologySpreadConstraints", [])
        assert {c["topologyKey"] for c in spread} >= {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_dev_runs_one_replica_of_each_and_a_postgres_of_its_own() -> None:
    docs = documents(render_overlay("dev"))
    for deployment in filter(is_convoy, of_kind(docs, "Deployment")):
        assert deployment["spec"]["replicas"] == 1, deployment["metadata"]["name"]
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    assert named(docs, "StatefulSet", "postgres")


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) selects a pod with these labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matched = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def ingress_rules(docs: list[Doc], workload: Doc) -> list[Doc]:
    """The ingress rules of every policy that selects the workload's pods."""
    labels = pod_labels(workload)
    return [
        rule
        for policy in of_kind(docs, "NetworkPolicy")
        if selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get("ingress", [])
    ]


def ports_of(rule: Doc) -> set[Any]:
    return {port["port"] for port in rule.get("ports", [])}


def test_ingress_is_denied_unless_a_policy_opens_it(docs: list[Doc]) -> None:
    deny = [
        policy
        for policy in of_kind(docs, "NetworkPolicy")
        if policy["spec"]["podSelector"] == {} and "Ingress" in policy["spec"]["policyTypes"]
    ]
    assert any(not policy["spec"].get("ingress") for policy in deny), "a default-deny ingress policy"


def test_only_the_edge_is_open_to_outside_and_only_on_its_ports(docs: list[Doc]) -> None:
    open_ports = {"gateway": {"https"}, "scheduler": {"agent", "enroll"}, "transfer": {"grpc"}}
    for workload in filter(is_convoy, of_kind(docs, "Deployment", "StatefulSet")):
        name = workload["metadata"]["name"]
        outside: set[Any] = set()
        for rule in ingress_rules(docs, workload):
            sources = rule.get("from", [])
            if not sources or any("ipBlock" in source for source in sources):
                assert rule.get("ports"), f"{name}: a rule opens every port to outside the namespace"
                outside |= ports_of(rule)
        assert outside == open_ports.get(name, set()), f"{name} is open to outside on {sorted(outside)}"


def test_services_take_calls_from_convoy_pods_only(docs: list[Doc]) -> None:
    for svc in GRPC_SERVICES:
        inside = [
            rule
            for rule in ingress_rules(docs, named(docs, "Deployment", svc))
            if "grpc" in ports_of(rule) and any("podSelector" in source for source in rule.get("from", []))
        ]
        assert inside, f"{svc}: no policy lets the services call it"
        for rule in inside:
            for source in rule["from"]:
                selector = source.get("podSelector")
                if selector is not None and "namespaceSelector" not in source:
                    assert selector.get("matchLabels", {}).get(CONVOY[0]) == CONVOY[1], f"{svc}: {source}"


def test_convoy_pods_may_reach_postgres_and_dns(docs: list[Doc]) -> None:
    egress = [
        rule
        for policy in of_kind(docs, "NetworkPolicy")
        if "Egress" in policy["spec"]["policyTypes"]
        and policy["spec"]["podSelector"].get("matchLabels", {}).get(CONVOY[0]) == CONVOY[1]
        for rule in policy["spec"].get("egress", [])
    ]
    assert egress, "no egress policy for Convoy's pods"
    reachable = set().union(*(ports_of(rule) for rule in egress))
    assert {5432, 53} <= reachable, f"Convoy's pods may dial {sorted(reachable, key=str)}"
