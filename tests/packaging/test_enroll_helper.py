"""convoy-agent-enroll from the installed package, chrooted into an rpm sandbox root: it enrolls with a real
(test) scheduler edge over TLS, then enables and starts the unit; the packaged agent then connects. A
failed enrollment starts nothing, and the paths the service relies on cannot be changed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.test_run_fakes import TOKEN, Servers, serving
from tests.packaging.roots import (
    PYTHON,
    Built,
    chroot,
    provide_libraries,
    python_root,
    rpm,
    systemctl_calls,
    systemd_stub,
)

pytestmark = pytest.mark.timeout(600)

HELPER = "/usr/sbin/convoy-agent-enroll"
UNIT = "convoy-agent.service"
STOP_TIMEOUT = 60.0


@pytest.fixture
def servers() -> Iterator[Servers]:
    with serving() as started:
        yield started


@pytest.fixture
def root(built: Built, tmp_path: Path) -> Path:
    """The package installed into a root where "systemd runs" (a systemctl that only logs)."""
    root = python_root(tmp_path / "root", "rpm")
    systemd_stub(root)
    done = rpm(root, "-Uvh", "--nodeps", str(built.rpm1))
    assert done.returncode == 0, done.stderr
    provide_libraries(root)
    systemctl_calls(root)
    return root


def enroll(root: Path, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    """The helper as the install script runs it: the token in the environment, never on the command line."""
    return subprocess.run(
        ["chroot", str(root), HELPER, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CONVOY_JOIN_TOKEN": token},
    )


def python_version() -> str:
    done = subprocess.run(
        [str(PYTHON), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_the_helper_enrolls_then_enables_and_starts_the_service(
    built: Built, root: Path, servers: Servers
) -> None:
    done = enroll(root, "--server", servers.enroll_address, "--ca-fingerprint", servers.pki.fingerprint)
    assert done.returncode == 0, done.stderr
    assert systemctl_calls(root) == [f"enable {UNIT}", f"restart {UNIT}"]
    config = json.loads((root / "etc/convoy-agent/agent.json").read_text())
    # Enrollment filled in the node; the package's defaults stay as they were.
    assert config["node_id"] and config["server"] == servers.enroll_address
    assert (config["state_dir"], config["heartbeat_seconds"], config["sandbox_root"]) == (
        "/var/lib/convoy-agent",
        10,
        "",
    )
    state = root / "var/lib/convoy-agent"
    assert {"node.pem", "node-key.pem", "ca.pem"} <= {path.name for path in state.iterdir()}
    assert (state / "node-key.pem").stat().st_mode & 0o777 == 0o600

    # What the unit runs, from the package, with the configuration the helper wrote.
    agent = subprocess.Popen(
        ["chroot", str(root), "/usr/bin/convoy-agent", "run", "--config", "/etc/convoy-agent/agent.json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        stream = servers.edge.next_stream(timeout=60)
        assert stream.node_id == config["node_id"]
        facts = stream.next("hello").hello.facts
        # The node's own python3 runs the agent: here, the copy of this machine's in the root.
        assert (facts.agent_version, facts.python_version) == (built.first.version, python_version())
    finally:
        agent.send_signal(signal.SIGTERM)
        _, errors = agent.communicate(timeout=STOP_TIMEOUT)
    assert agent.returncode == 0, errors.decode()


def test_a_failed_enrollment_starts_nothing(root: Path, servers: Servers) -> None:
    refused = enroll(
        root,
        "--server",
        servers.enroll_address,
        "--ca-fingerprint",
        servers.pki.fingerprint,
        token="cvj_" + "b" * 43,
    )
    assert refused.returncode == 1
    assert "join token was refused" in refused.stderr
    assert systemctl_calls(root) == []
    assert not (root / "var/lib/convoy-agent/node.pem").exists()
    assert "node_id" not in json.loads((root / "etc/convoy-agent/agent.json").read_text())


def test_the_helper_keeps_the_paths_of_the_service(root: Path) -> None:
    for option in ("--config", "--state-dir=/tmp/x", "--sandbox-root"):
        done = enroll(root, "--server", "127.0.0.1:1", option, "/tmp/x")
        assert done.returncode == 2, done.stderr
        assert "is fixed for the service" in done.stderr
    assert "--no-start" in chroot(root, HELPER, "--help").stdout
    assert systemctl_calls(root) == []


def test_no_start_enrolls_only(root: Path, servers: Servers) -> None:
    done = enroll(
        root, "--no-start", "--server", servers.enroll_address, "--ca-fingerprint", servers.pki.fingerprint
    )
    assert done.returncode == 0, done.stderr
    assert (root / "var/lib/convoy-agent/node.pem").is_file()
    assert systemctl_calls(root) == []


def test_the_configuration_starts_from_the_packages_defaults(root: Path, servers: Servers) -> None:
    """The package ships its defaults as data (/usr/share), never as the file enrollment writes: the helper
    starts /etc/convoy-agent/agent.json from them, and enrollment adds the node to it."""
    defaults = root / "usr/share/convoy-agent/agent.json"
    values = json.loads(defaults.read_text())
    values["inventory_interval_seconds"] = 42
    defaults.write_text(json.dumps(values))
    assert not (root / "etc/convoy-agent/agent.json").exists()
    done = enroll(
        root, "--no-start", "--server", servers.enroll_address, "--ca-fingerprint", servers.pki.fingerprint
    )
    assert done.returncode == 0, done.stderr
    config = json.loads((root / "etc/convoy-agent/agent.json").read_text())
    assert config["node_id"] and config["inventory_interval_seconds"] == 42
