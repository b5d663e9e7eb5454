"""Convoy's Grafana dashboards: valid JSON, a query on every panel through the data source variable, PromQL
that Prometheus parses, and provisioning that puts every dashboard where Grafana reads it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.observability.expressions import COMPONENT, DASHBOARDS, dashboard_queries, dashboards, promtool

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROVISIONING = COMPONENT / "grafana" / "provisioning"
# A matcher on a label that names one thing (a server, a node, a process) would tie the panel to it.
ID_MATCHER = re.compile(r"\b(\w*_id|id|instance|hostname|node|pod)\s*(=|!=|=~|!~)")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def datasources(node: Any) -> Iterator[Any]:
    """Every `datasource` value anywhere in a dashboard."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from datasources(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasources(item)


def test_the_four_dashboards_parse_with_unique_uids() -> None:
    boards = dashboards()
    assert sorted(boards) == [
        "convoy-fleet.json",
        "convoy-rollouts.json",
        "convoy-services.json",
        "convoy-transfer.json",
    ]
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids), uids
    assert all(board["title"].startswith("Convoy / ") for board in boards.values())


def test_the_data_source_is_a_prometheus_variable_used_everywhere() -> None:
    for name, board in dashboards().items():
        [variable] = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
        assert (variable["type"], variable["query"]) == ("datasource", "prometheus"), name
        used = list(datasources(board))
        assert used and all(value == DATASOURCE for value in used), (name, used)


def test_every_panel_has_a_query() -> None:
    for name, board in dashboards().items():
        assert board["panels"], name
        for panel in board["panels"]:
            where = f"{name}: {panel.get('title')}"
            assert panel["type"] != "row", f"{where}: rows carry no query"
            assert panel["title"] and panel["description"], where
            assert panel["targets"], f"{where} has no query"
            for target in panel["targets"]:
                assert target["expr"].strip(), where
            ref_ids = [target["refId"] for target in panel["targets"]]
            assert len(set(ref_ids)) == len(ref_ids), where


def test_queries_hold_no_ids() -> None:
    for query in dashboard_queries("5m"):
        assert not ID_MATCHER.search(query.expr), query
        assert not UUID.search(query.expr), query


def test_every_query_parses(tmp_path: Path) -> None:
    """promtool parses each query as the expression of a recording rule."""
    queries = dashboard_queries("5m")
    rules = [{"record": f"dashboard:query_{index}", "expr": q.expr} for index, q in enumerate(queries)]
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(queries)} rules found" in done.stdout, done.stdout


def test_grafana_reads_the_dashboards_where_compose_and_kubernetes_mount_them() -> None:
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "convoy.yaml").read_text())["providers"]
    path = provider["options"]["path"]
    root = COMPONENT.parents[2]
    compose = yaml.safe_load((root / "compose.observability.yaml").read_text())
    assert (
        f"./{COMPONENT.relative_to(root)}/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]
    )
    deployment = yaml.safe_load((COMPONENT / "grafana.yaml").read_text().split("\n---\n")[0])
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts["dashboards"] == path
    kustomization = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    generated = {gen["name"]: gen["files"] for gen in kustomization["configMapGenerator"]}
    assert generated["grafana-dashboards"] == [f"dashboards/{p.name}" for p in DASHBOARDS]


def test_the_data_source_is_the_components_prometheus() -> None:
    [source] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert (source["type"], source["url"], source["isDefault"]) == (
        "prometheus",
        "http://prometheus:9090",
        True,
    )
