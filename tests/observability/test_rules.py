"""Convoy's alert rules and Prometheus configurations pass promtool, and every alert has unit tests that see it
fire and stay quiet."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.observability.expressions import (
    COMPONENT,
    RULE_TESTS,
    RULES,
    alert_series,
    promtool,
    rule_groups,
)

PROMTOOL_TIMEOUT = 120.0
COMPOSE_JOBS = {
    "convoy-auth": "auth:9100",
    "convoy-inventory": "inventory:9100",
    "convoy-transfer": "transfer:9100",
    "convoy-catalog": "catalog:9100",
    "convoy-scheduler": "scheduler:9100",
    "convoy-gateway": "gateway:9100",
}


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def test_rules_pass_promtool_check() -> None:
    done = run_promtool("check", "rules", RULES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "no promtool unit tests under rules/tests"
    done = run_promtool("test", "rules", *RULE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_seen_firing_and_quiet_by_the_unit_tests() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names == {
        "ConvoyAgentsOffline",
        "ConvoyRolloutFailureRatio",
        "ConvoyDriftedNodes",
        "ConvoyHighErrorRate",
        "ConvoyScrapeDown",
    }
    assert names - firing == set(), "alerts no unit test sees firing"
    assert names - quiet == set(), "alerts no unit test sees quiet"


def test_alerts_compare_a_recorded_series_and_say_what_to_do() -> None:
    recorded = {rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule}
    assert all(name.startswith("convoy:") for name in recorded), recorded
    for rule in alerts():
        for series in alert_series(rule["expr"]):
            name = series.split("{", 1)[0]
            assert name in recorded or name == "up", f"{rule['alert']} compares {series}, no recorded series"
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def _with_rules(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration reading the component's rule file where the containers mount it."""
    return {**config, "rule_files": [str(RULES)]}


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    config = yaml.safe_load((COMPONENT / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yaml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {name: job["static_configs"][0]["targets"][0] for name, job in jobs.items()} == COMPOSE_JOBS
    assert all({"scheme", "tls_config"}.isdisjoint(job) for job in jobs.values()), "plain HTTP on 9100 only"
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(_with_rules(config)))
    done = run_promtool("check", "config", checked)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout + done.stderr, done.stdout + done.stderr


def test_kubernetes_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """Debian builds Prometheus without Kubernetes discovery, so promtool checks everything but that block;
    the end-to-end test runs the relabelling for real."""
    config = yaml.safe_load((COMPONENT / "prometheus" / "kubernetes.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"own_namespace": True}}]
    assert "tls_config" not in job, "the metrics ports are plain HTTP; no scrape skips certificate checks"
    job = {key: value for key, value in job.items() if key != "kubernetes_sd_configs"}
    job["static_configs"] = [{"targets": ["127.0.0.1:9100"]}]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(_with_rules({**config, "scrape_configs": [job]})))
    done = run_promtool("check", "config", checked)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_and_kubernetes_load_this_rule_file() -> None:
    root = COMPONENT.parents[2]
    compose = yaml.safe_load((root / "compose.observability.yaml").read_text())
    mounts = compose["services"]["prometheus"]["volumes"]
    assert f"./{RULES.relative_to(root)}:/etc/prometheus/rules/{RULES.name}:ro" in mounts
    kustomization = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    generated = {gen["name"]: gen["files"] for gen in kustomization["configMapGenerator"]}
    assert generated["prometheus-rules"] == [str(RULES.relative_to(COMPONENT))]
