"""The agent's command line as an operator uses it: `run` as its own process, `approve` on the node."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent.test_run_fakes import AGENT_DIR, TOKEN, Servers, approvals, cli, configuration


def agent_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "convoy_agent", *arguments]


def agent_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(AGENT_DIR))


def test_run_connects_says_hello_and_stops_on_sigterm(servers: Servers, tmp_path: Path) -> None:
    config_file, root = tmp_path / "agent.json", tmp_path / "root"
    root.mkdir()
    enroll = agent_command(
        "enroll",
        "--server",
        servers.enroll_address,
        "--token",
        TOKEN,
        "--ca-fingerprint",
        servers.pki.fingerprint,
        "--state-dir",
        str(tmp_path / "state"),
        "--config",
        str(config_file),
        "--sandbox-root",
        str(root),
    )
    subprocess.run(enroll, env=agent_env(), capture_output=True, timeout=60, check=True)
    values = json.loads(config_file.read_text())
    values["heartbeat_seconds"] = 0.2
    config_file.write_text(json.dumps(values))

    process = subprocess.Popen(
        agent_command("run", "--config", str(config_file)),
        env=agent_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stream = servers.edge.next_stream()
        hello = stream.next("hello").hello
        stream.next("heartbeat")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)

    assert process.returncode == 0, stderr
    assert stream.node_id == values["node_id"]
    assert hello.facts.python_version and hello.facts.agent_version
    assert f"node {values['node_id']}" in stderr


def test_run_refuses_a_node_that_is_not_enrolled(tmp_path: Path) -> None:
    config_file = tmp_path / "agent.json"
    config_file.write_text(json.dumps({"state_dir": str(tmp_path / "state")}))

    done = subprocess.run(
        agent_command("run", "--config", str(config_file)),
        env=agent_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert "not enrolled" in done.stderr and "convoy-agent enroll" in done.stderr


def test_approve_lists_approves_and_refuses_unknown_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configuration.Config({"state_dir": str(tmp_path / "state")}, str(tmp_path / "agent.json"))
    configuration.save(config)
    approvals.mark_waiting(config.approvals_dir, "task-1", {"name": "nginx-app", "version": "2.1"})
    arguments = ["--config", str(config.path)]

    assert cli.main(["approve", *arguments]) == 0
    listed = capsys.readouterr().out
    assert cli.main(["approve", "task-2", *arguments]) == 1
    refused = capsys.readouterr().err
    assert cli.main(["approve", "../task-1", *arguments]) == 1
    assert cli.main(["approve", "task-1", *arguments]) == 0
    approved = capsys.readouterr().out

    assert "task-1  nginx-app 2.1" in listed
    assert "no task task-2 is waiting for approval" in refused
    assert "approved task-1 (nginx-app 2.1)" in approved
    assert approvals.is_approved(config.approvals_dir, "task-1")
    assert not approvals.is_approved(config.approvals_dir, "task-2")


def test_config_addresses_resolve_a_bare_port_on_the_enrollment_host() -> None:
    config = configuration.Config({"server": "10.1.2.3:50058", "agent_address": ":50057"})

    assert config.scheduler_target() == "10.1.2.3:50057"
    assert config.transfer_target(":50055") == "10.1.2.3:50055"
    assert config.transfer_target("files.example:9000") == "files.example:9000"
    assert (
        configuration.Config({"server": "[fd00::1]:1", "agent_address": ":2"}).scheduler_target()
        == "[fd00::1]:2"
    )
    with pytest.raises(configuration.ConfigError, match="heartbeat_seconds must be above 0"):
        configuration.Config({"heartbeat_seconds": 0})


def test_the_agent_installs_with_pip_and_gets_its_command(tmp_path: Path) -> None:
    """`pip install ./agent` on a node gives `convoy-agent`; built from a copy, so the tree stays clean."""
    source = tmp_path / "agent"
    shutil.copytree(AGENT_DIR, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(source)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    version = subprocess.run(
        [str(target / "bin" / "convoy-agent"), "--version"], capture_output=True, text=True, timeout=60, env=env,
        check=False,
    )  # fmt: skip
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip().startswith("convoy-agent ")


def test_the_source_tree_command_runs_without_installing() -> None:
    done = subprocess.run(
        [sys.executable, str(Path(AGENT_DIR) / "bin" / "convoy-agent"), "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "enroll" in done.stdout and "approve" in done.stdout
