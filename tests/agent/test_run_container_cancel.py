"""`convoy-agent run` in process, against the fake edge and transfer: container assignments through a
stand-in runtime (container_stub.py) first on PATH, and a cancel that comes once the package operation has
begun (too late: the task finishes and says so)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from convoy_agent.executors import select_executor

from tests.agent.container_stub import DAEMON_DOWN, Runtime, install_stub
from tests.agent.test_run import result_of, running
from tests.agent.test_run_fakes import Servers, agent_pb2, configuration, connection, wait_for
from tests.agent.test_run_safety import tar_assignment
from tests.support.packages import build_image_archive, build_tarball

S = agent_pb2
# Bounds the install.sh below waits for its release flag, in tenths of a second.
SCRIPT_WAIT_TENTHS = 600
REFUSED = "cancel refused: the package operation has begun and will finish"


@pytest.fixture
def podman(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """A stub `podman` first on PATH: podman is the runtime the agent prefers, whatever the host has."""
    directory = tmp_path / "bin"
    stub = install_stub(directory, "podman")
    monkeypatch.setenv("PATH", directory.as_posix() + os.pathsep + os.environ.get("PATH", ""))
    return stub


def image_assignment(servers: Servers, archive: Path, name: str, version: str) -> S.Assignment:
    data = archive.read_bytes()
    sha, grant = servers.transfer.add(data)
    return S.Assignment(
        assignment_id=str(uuid.uuid4()),
        deployment_id=str(uuid.uuid4()),
        attempt=1,
        action=S.ACTION_INSTALL,
        package=S.PackageFacts(
            name=name, version=version, format=S.FORMAT_CONTAINER, arch="amd64", sha256=sha, size=len(data)
        ),
        download_grant=grant,
        transfer_address=f":{servers.transfer_port}",
    )


def test_a_container_assignment_loads_the_image_and_runs_the_container(
    servers: Servers, config: configuration.Config, tmp_path: Path, podman: Runtime
) -> None:
    task = image_assignment(servers, build_image_archive(tmp_path, "shop:1.4"), "shop", "1.4")

    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=task)
        result = result_of(stream, task)

    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert result.installed_version == "1.4"
    (container,) = podman.containers().values()
    assert container["image"] == "shop:1.4"
    assert container["labels"]["org.convoy.version"] == "1.4"
    assert any(line.startswith("$ podman run -d --name shop") for line in result.log_tail), result.log_tail


def test_a_container_runtime_that_does_not_answer_fails_the_task(
    servers: Servers, config: configuration.Config, tmp_path: Path, podman: Runtime
) -> None:
    podman.daemon_down()
    task = image_assignment(servers, build_image_archive(tmp_path, "shop:1.5"), "shop", "1.5")

    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=task)
        result = result_of(stream, task)

    assert result.state == S.TASK_STATE_FAILED, result.message
    assert "podman does not answer" in result.message
    assert DAEMON_DOWN["podman"] in result.message
    assert "load" not in podman.subcommands()


def waiting_tarball(tmp_path: Path, name: str) -> Path:
    """install.sh logs "start", waits (bounded) until $CONVOY_ROOT/release exists, then logs "end"."""
    script = (
        "#!/bin/sh\nset -e\n"
        f'echo start >> "$CONVOY_ROOT/{name}.log"\n'
        "i=0\n"
        f'while [ ! -e "$CONVOY_ROOT/release" ] && [ $i -lt {SCRIPT_WAIT_TENTHS} ]; do sleep 0.1; i=$((i+1)); done\n'
        f'echo end >> "$CONVOY_ROOT/{name}.log"\n'
    )
    return build_tarball(tmp_path, name, "1.0", {"install.sh": script})


def script_lines(root: Path, name: str) -> list[str]:
    log = root / f"{name}.log"
    return log.read_text().split() if log.exists() else []


def task_log(agent: connection.Agent, assignment: S.Assignment) -> list[str]:
    """The log lines so far of the running task (flushed to the scheduler with the next ones)."""
    running_task = agent.runner.tasks.get((assignment.assignment_id, assignment.attempt))
    return list(running_task.tail) if running_task is not None else []


def test_a_cancel_after_the_package_operation_began_is_too_late(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    task = tar_assignment(servers, waiting_tarball(tmp_path, "late"), "late", "1.0")

    release = root / "release"
    try:
        with running(config) as agent:
            stream = servers.edge.next_stream()
            stream.push(assignment=task)
            wait_for(lambda: script_lines(root, "late") == ["start"], what="install.sh to start")
            stream.push(cancel=S.Cancel(assignment_id=task.assignment_id, reason="operator cancelled"))
            wait_for(lambda: REFUSED in task_log(agent, task), what="the cancel to be refused")
            assert script_lines(root, "late") == ["start"]  # the script was not stopped meanwhile
            release.write_text("go\n")
            result = result_of(stream, task)
    finally:
        release.write_text("go\n")  # a failed test leaves no script waiting behind

    logged = [line for p in stream.progress(task.assignment_id) for line in p.log_lines]
    assert REFUSED in logged
    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert result.installed_version == "1.0"
    assert script_lines(root, "late") == ["start", "end"], result.log_tail
    assert REFUSED in result.log_tail
    assert result.message != "operator cancelled"


def test_a_node_without_a_container_runtime_skips_the_task_before_downloading(
    servers: Servers, config: configuration.Config, tmp_path: Path
) -> None:
    task = image_assignment(servers, build_image_archive(tmp_path, "shop:1.6"), "shop", "1.6")

    with running(config) as agent:
        # Neither podman nor docker to be found (whatever this machine has).
        agent.runner.executor_for = lambda name: select_executor(name, config, which=lambda _: None)
        stream = servers.edge.next_stream()
        stream.push(assignment=task)
        result = result_of(stream, task)

    assert result.state == S.TASK_STATE_SKIPPED, result.message
    assert "no container runtime" in result.message
    assert servers.transfer.requests == []
