"""The systemd unit of the agent's packages: systemd-analyze verifies it as installed, and it keeps the
settings that make it safe for a package manager (see docs/agent-packages.md for why each one)."""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from convoy_agent.sandbox import prepare_deb_root

from tests.packaging.roots import Built, dpkg

pytestmark = pytest.mark.timeout(600)

UNIT_FILE = Path(__file__).resolve().parents[2] / "packaging" / "agent" / "convoy-agent.service"
# Where systemd keeps its own units (multi-user.target, network-online.target …) on this machine.
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
# Each takes something from the package tools and container runtimes that the agent runs.
FORBIDDEN = {
    "NoNewPrivileges",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectControlGroups",
    "RestrictNamespaces",
    "RestrictSUIDSGID",
    "SystemCallFilter",
    "MemoryDenyWriteExecute",
    "CapabilityBoundingSet",
    "ReadOnlyPaths",
    "ProtectHostname",
    "ProtectClock",
}


def settings(text: str) -> dict[str, list[str]]:
    """Section.Key → its values, in order (keys such as ConditionPathExists may repeat)."""
    found: dict[str, list[str]] = defaultdict(list)
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            found[f"{section}.{key}"].append(value)
    return dict(found)


def verify(root: Path, unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_installed_unit_passes_systemd_analyze_verify(built: Built, tmp_path: Path) -> None:
    root = tmp_path / "root"
    prepare_deb_root(str(root))
    done = dpkg(root, "--install", str(built.deb1))
    assert done.returncode == 0, done.stderr
    shutil.copytree(SYSTEM_UNITS, root / SYSTEM_UNITS.relative_to("/"), symlinks=True, dirs_exist_ok=True)
    unit = root / "lib/systemd/system/convoy-agent.service"

    checked = verify(root, unit)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")

    # The same check sees a launcher that cannot run, so its silence above means something.
    launcher = root / "usr/bin/convoy-agent"
    launcher.chmod(0o644)
    broken = verify(root, unit)
    assert broken.returncode != 0 and "/usr/bin/convoy-agent is not executable" in broken.stderr


def test_the_unit_waits_for_enrollment_restarts_on_failure_and_lets_package_tools_work() -> None:
    unit = settings(UNIT_FILE.read_text())
    assert "/var/lib/convoy-agent/node.pem" in unit["Unit.ConditionPathExists"]
    assert unit["Service.ExecStart"] == ["/usr/bin/convoy-agent run --config /etc/convoy-agent/agent.json"]
    assert unit["Service.Restart"] == ["on-failure"]
    assert unit["Service.KillMode"] == ["mixed"]
    assert unit["Install.WantedBy"] == ["multi-user.target"]
    assert unit["Service.LockPersonality"] == unit["Service.RestrictRealtime"] == ["yes"]
    present = {key.split(".", 1)[1] for key in unit}
    assert present & FORBIDDEN == set()
