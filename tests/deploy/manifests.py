"""What the deploy tests read: the compose files, the rendered Kubernetes overlays, the settings' variables."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.auth.config import AuthSettings
from services.catalog.config import CatalogSettings
from services.gateway.config import GatewaySettings
from services.inventory.config import InventorySettings
from services.kit.settings import ServiceSettings
from services.scheduler.config import SchedulerSettings
from services.transfer.config import TransferSettings

__all__ = [
    "REPO",
    "COMPOSE_FILES",
    "OVERLAYS",
    "GRPC_SERVICES",
    "WORKLOAD_KINDS",
    "load_compose",
    "merged_services",
    "kubectl",
    "render_overlay",
    "documents",
    "run_tool",
    "setting_variables",
    "pod_spec",
    "containers",
    "python",
]

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ("compose.yaml", "compose.observability.yaml")
OVERLAYS = ("dev", "prod")
GRPC_SERVICES = ("auth", "inventory", "catalog", "scheduler", "transfer")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
SETTINGS: tuple[type[ServiceSettings], ...] = (
    AuthSettings,
    InventorySettings,
    CatalogSettings,
    SchedulerSettings,
    TransferSettings,
    GatewaySettings,
)
# Read by `python -m services.auth create-admin` from the environment rather than from settings.
COMMAND_VARIABLES = frozenset({"CONVOY_ADMIN_PASSWORD"})
TOOL_TIMEOUT = 120


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """A command run to completion (bounded), its output kept for the failure message."""
    return subprocess.run(
        list(args), cwd=REPO, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )


def load_compose(name: str) -> dict[str, Any]:
    path = REPO / name
    assert path.is_file(), f"{name} is missing"
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def merged_services() -> dict[str, dict[str, Any]]:
    """The services of `docker compose -f compose.yaml -f compose.observability.yaml`: a later file's
    mappings merged into an earlier file's service, key by key."""
    services: dict[str, dict[str, Any]] = {}
    for name in COMPOSE_FILES:
        for service, body in load_compose(name).get("services", {}).items():
            services[service] = _merged(services.get(service, {}), body or {})
    return services


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail(
            "kubectl is missing: the Kubernetes overlays cannot be rendered (tools/bootstrap.sh --test)"
        )
    return found


def render_overlay(overlay: str) -> str:
    """`kubectl kustomize k8s/overlays/<overlay>`: the manifests an operator applies."""
    done = run_tool(kubectl(), "kustomize", str(REPO / "k8s" / "overlays" / overlay))
    assert done.returncode == 0, f"kubectl kustomize k8s/overlays/{overlay} failed:\n{done.stderr}"
    return done.stdout


def documents(rendered: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def setting_variables() -> frozenset[str]:
    """Every environment variable a Convoy process reads through its settings."""
    names = set(COMMAND_VARIABLES)
    for settings in SETTINGS:
        prefix = str(settings.model_config.get("env_prefix", ""))
        for field_name, field in settings.model_fields.items():
            alias = field.validation_alias
            names.add(str(alias) if isinstance(alias, str) else (prefix + field_name).upper())
    return frozenset(names)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def python() -> str:
    return sys.executable
