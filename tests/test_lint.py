"""The code base passes its linter and formatter (generated code in gen/ is excluded by configuration)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(command: list[str]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            *command,
            "services",
            "devstack",
            "tests",
            "tools",
            "bench",
            "agent",
            "convoyctl",
            "packaging",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependency_families_stay_on_one_release() -> None:
    """grpcio and its companions on one version; OpenTelemetry API/SDK/exporters on one release set."""
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    grpc_family = {pins[name] for name in pins if name.lower().startswith("grpcio")}
    otel_stable = {v for n, v in pins.items() if n.startswith("opentelemetry-") and "b" not in v}
    otel_contrib = {v for n, v in pins.items() if n.startswith("opentelemetry-") and "b" in v}
    assert len(grpc_family) == 1, grpc_family
    assert len(otel_stable) == 1 and len(otel_contrib) == 1, (otel_stable, otel_contrib)
