"""The PromQL that Convoy's dashboards and alert rules run, read from the files the component ships."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ALERT_TERM",
    "COMPONENT",
    "DASHBOARDS",
    "RULES",
    "RULE_TESTS",
    "Query",
    "alert_series",
    "dashboard_queries",
    "dashboards",
    "promtool",
    "rule_groups",
    "rule_queries",
    "substitute",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPONENT = REPO_ROOT / "k8s" / "components" / "observability"
RULES = COMPONENT / "rules" / "convoy.rules.yaml"
RULE_TESTS = sorted((COMPONENT / "rules" / "tests").glob("*.yaml"))
DASHBOARDS = sorted((COMPONENT / "dashboards").glob("*.json"))

# Grafana's interval variables, in both spellings; what they become is the caller's choice of window.
_INTERVALS = re.compile(
    r"\$(?:\{(__rate_interval|__interval|__range)\}|(__rate_interval|__interval|__range)\b)"
)
_ANY_VARIABLE = re.compile(r"\$\{?\w+\}?")
# One term of an alert: a series (a recorded name with matchers, or `up{…}`) compared to a number.
ALERT_TERM = re.compile(r"^(?P<series>.+?)\s*(?:==|!=|>=|<=|>|<)\s*(?P<threshold>-?\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Query:
    """An expression and where it comes from (for failure messages)."""

    origin: str
    expr: str


def promtool() -> str:
    """The promtool binary; its absence fails the test (tools/bootstrap.sh --test installs Prometheus)."""
    found = shutil.which("promtool")
    if found is None:
        raise AssertionError("promtool is missing: run tools/bootstrap.sh --test (it installs prometheus)")
    return found


def substitute(expr: str, window: str) -> str:
    """`expr` with Grafana's interval variables set to `window` (e.g. "5m"); any other variable is an error,
    since Prometheus could not run the query as Grafana sends it."""
    result = _INTERVALS.sub(window, expr)
    leftover = _ANY_VARIABLE.search(result)
    if leftover:
        raise ValueError(f"unknown Grafana variable {leftover.group(0)} in {expr!r}")
    return result


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard, by file name."""
    return {path.name: json.loads(path.read_text()) for path in DASHBOARDS}


def dashboard_queries(window: str) -> list[Query]:
    """Every panel target's expression, variables substituted."""
    queries = []
    for name, board in dashboards().items():
        for panel in board.get("panels", []):
            for target in panel.get("targets", []):
                origin = f"{name}: {panel.get('title')} ({target.get('refId')})"
                queries.append(Query(origin, substitute(target["expr"], window)))
    return queries


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def alert_series(expr: str) -> list[str]:
    """The series an alert compares, one per `or`/`and` term; ValueError when a term is anything else."""
    series = []
    for term in re.split(r"\s+(?:or|and|unless)\s+", expr.strip()):
        match = ALERT_TERM.match(term.strip())
        if match is None:
            raise ValueError(f"{term!r} does not compare a series to a number")
        series.append(match.group("series").strip())
    return series


def rule_queries() -> list[Query]:
    """What must have data for every rule to work: each recording rule's expression and the series it
    records, and the series each alert compares to its threshold."""
    queries = []
    for group in rule_groups():
        for rule in group["rules"]:
            if "record" in rule:
                queries.append(Query(f"rule {rule['record']} (expr)", rule["expr"].strip()))
                queries.append(Query(f"rule {rule['record']} (recorded)", rule["record"]))
            else:
                for series in alert_series(rule["expr"]):
                    queries.append(Query(f"alert {rule['alert']}", series))
    return queries
