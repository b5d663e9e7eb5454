"""The agent's .rpm in sandbox roots (scriptlets chrooted into them): install, upgrade and erase with rpm,
the enrolled configuration the node's own (no %config: no .rpmsave that an erase leaves the node without),
and systemd asked for nothing an unenrolled agent would start."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from convoy_agent import config as agent_config

from tests.packaging.roots import (
    Built,
    chroot,
    enroll_by_hand,
    files_under,
    provide_libraries,
    python_root,
    rpm,
    systemctl_calls,
    systemd_stub,
)
from tests.support.sandbox import rpm_versions

pytestmark = pytest.mark.timeout(600)

LIB = Path("usr/lib/convoy-agent")
CONFIG = Path("etc/convoy-agent/agent.json")
STATE = Path("var/lib/convoy-agent")
UNIT = "convoy-agent.service"


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_install_upgrade_and_erase_in_a_sandbox_root(built: Built, tmp_path: Path) -> None:
    root = python_root(tmp_path / "root", "rpm")
    systemd_stub(root)
    version = built.first.version

    output = ok(rpm(root, "-Uvh", "--nodeps", str(built.rpm1)))
    assert "dependencies extracted for Python" in output
    assert rpm_versions(root, "convoy-agent") == [f"{version}-1"]
    # Only a reload: a fresh install never enables or starts the agent.
    assert systemctl_calls(root) == ["daemon-reload"]
    assert (root / LIB / "deps" / "grpc" / "__init__.py").is_file()
    assert (root / STATE).stat().st_mode & 0o777 == 0o700
    provide_libraries(root)
    assert ok(chroot(root, "/usr/bin/convoy-agent", "--version")).strip() == f"convoy-agent {version}"

    # Upgrade: the new %post reloads, the old %postun finds no enrolled agent to restart.
    ok(rpm(root, "-Uvh", "--nodeps", str(built.rpm2)))
    assert rpm_versions(root, "convoy-agent") == [f"{version}-2"]
    assert systemctl_calls(root) == ["daemon-reload", "daemon-reload"]

    assert files_under(root, "etc/convoy-agent") == []
    config = enroll_by_hand(root)
    ok(rpm(root, "-Uvh", "--nodeps", "--oldpackage", str(built.rpm1)))
    assert rpm_versions(root, "convoy-agent") == [f"{version}-1"]
    assert systemctl_calls(root) == ["daemon-reload", "daemon-reload", f"try-restart {UNIT}"]
    assert json.loads((root / CONFIG).read_text()) == config
    assert not [path for path in files_under(root, "etc") if path.endswith((".rpmnew", ".rpmsave"))]
    provide_libraries(root)
    assert ok(chroot(root, "/usr/bin/convoy-agent", "--version")).strip() == f"convoy-agent {version}"

    ok(rpm(root, "-e", "convoy-agent"))
    assert rpm_versions(root, "convoy-agent") == []
    assert systemctl_calls(root) == [f"stop {UNIT}", f"disable {UNIT}", "daemon-reload"]
    # Erasing keeps the enrollment as it is: the node's state and its configuration.
    left = files_under(
        root, str(LIB), "usr/sbin", "usr/lib/systemd", "usr/share", "etc/convoy-agent", str(STATE)
    )
    assert left == [
        "/etc/convoy-agent/agent.json",
        "/var/lib/convoy-agent/ca.pem",
        "/var/lib/convoy-agent/node-key.pem",
        "/var/lib/convoy-agent/node.pem",
    ]
    assert json.loads((root / CONFIG).read_text()) == config
    assert not (root / "usr/bin/convoy-agent").exists()
    assert not (root / LIB).exists()


def test_erase_and_install_again_bring_back_the_enrolled_node_stopped(built: Built, tmp_path: Path) -> None:
    """The node's configuration (with its id) and key survive an erase untouched, so installing again finds
    an enrolled node: the unit's conditions hold and the agent can run, and nothing starts it until an
    operator does (the erase disabled the unit; a fresh install never enables or starts it)."""
    root = python_root(tmp_path / "root", "rpm")
    systemd_stub(root)
    ok(rpm(root, "-Uvh", "--nodeps", str(built.rpm1)))
    config = enroll_by_hand(root)
    ok(rpm(root, "-e", "convoy-agent"))
    systemctl_calls(root)

    ok(rpm(root, "-Uvh", "--nodeps", str(built.rpm2)))
    assert systemctl_calls(root) == ["daemon-reload"]
    assert json.loads((root / CONFIG).read_text()) == config
    assert not [path for path in files_under(root, "etc") if path.endswith((".rpmnew", ".rpmsave"))]
    loaded = agent_config.load(str(root / CONFIG))
    assert (loaded.node_id, loaded.heartbeat_seconds) == ("node-7", 30)
    # What the unit's ConditionPathExists= and `convoy-agent run` need, all there.
    agent_config.Config({**loaded.values, "state_dir": str(root / STATE)}).require_enrolled()


def test_an_agent_erasing_itself_does_not_wait_for_its_own_stop(built: Built, tmp_path: Path) -> None:
    root = python_root(tmp_path / "root", "rpm")
    systemd_stub(root)
    ok(rpm(root, "-Uvh", "--nodeps", str(built.rpm1)))
    (root / STATE / "node.pem").write_text("a certificate\n")
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(f"0::/system.slice/{UNIT}\n")
    systemctl_calls(root)

    ok(rpm(root, "-Uvh", "--nodeps", str(built.rpm2)))
    assert systemctl_calls(root) == ["daemon-reload", "daemon-reload", f"--no-block try-restart {UNIT}"]
    ok(rpm(root, "-e", "convoy-agent"))
    assert systemctl_calls(root) == [f"--no-block stop {UNIT}", f"disable {UNIT}", "daemon-reload"]
