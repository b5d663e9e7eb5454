"""`convoy-agent run` as its own process, stopped in the middle of a package operation: by SIGKILL (the
package command outlives it and holds the install lock, so recovery waits for it) and by SIGTERM (the
agent waits for the package operation, and interrupts a download without a result)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.agent.test_run import assignment_for, result_of
from tests.agent.test_run_fakes import (
    AGENT_DIR,
    Servers,
    agent_pb2,
    cli,
    configuration,
    enroll_node,
    journal,
    wait_for,
)
from tests.agent.test_run_safety import tar_assignment
from tests.support.packages import build_deb, build_tarball

S = agent_pb2


@pytest.fixture
def config(servers: Servers, tmp_path: Path) -> configuration.Config:
    root = tmp_path / "root"
    from convoy_agent.sandbox import prepare_deb_root

    prepare_deb_root(str(root))
    enrolled = enroll_node(
        servers, tmp_path, S.Facts(hostname="node-1", package_family=S.PACKAGE_FAMILY_DEB), root=root
    )
    enrolled.values.update({"heartbeat_seconds": 0.3, "backoff_initial_seconds": 0.05})
    enrolled.values.update({"backoff_max_seconds": 0.4, "command_timeout_seconds": 120})
    configuration.save(configuration.Config(enrolled.values, enrolled.path))
    return configuration.load(enrolled.path)


def slow_tarball(tmp_path: Path) -> Path:
    """install.sh logs "start", waits (bounded) until $CONVOY_ROOT/release exists, logs "end"."""
    script = (
        "#!/bin/sh\nset -e\n"
        'echo start >> "$CONVOY_ROOT/slow.log"\n'
        "i=0\n"
        'while [ ! -e "$CONVOY_ROOT/release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n'
        'echo end >> "$CONVOY_ROOT/slow.log"\n'
    )
    return build_tarball(tmp_path, "slow", "1.0", {"install.sh": script})


def start_agent(config: configuration.Config, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"agent-{len(list(tmp_path.glob('agent-*.log')))}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "convoy_agent", "run", "--config", str(config.path)],
            env=dict(os.environ, PYTHONPATH=str(AGENT_DIR)),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return process, log


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_after_sigkill_recovery_waits_for_the_package_command_still_running(
    servers: Servers, config: configuration.Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = Path(config.sandbox_root)
    task = tar_assignment(servers, slow_tarball(tmp_path), "slow", "1.0")
    process, _ = start_agent(config, tmp_path)
    try:
        stream = servers.edge.next_stream()
        stream.push(assignment=task)
        wait_for(lambda: lines(root / "slow.log") == ["start"], what="install.sh to start")
    finally:
        process.kill()
        process.wait(30)

    recovered: list[list[S.TaskResult]] = []
    runner = cli.build_agent(config).runner
    thread = threading.Thread(target=lambda: recovered.append(runner.recover()), daemon=True)
    with caplog.at_level(logging.INFO, logger="convoy_agent.tasks"):
        thread.start()
        wait_for(lambda: "still running; waiting" in caplog.text, what="recovery to wait for the lock")
        assert lines(root / "slow.log") == ["start"]  # recovery has not touched the package meanwhile
        (root / "release").write_text("go\n")
        thread.join(60)

    assert not thread.is_alive()
    (result,) = recovered[0]
    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    # The first install.sh finished before recovery ran it again (tar scripts are re-run, not resumed).
    assert lines(root / "slow.log") == ["start", "end", "start", "end"]


def test_sigterm_waits_for_the_package_operation_and_interrupts_a_download(
    servers: Servers, config: configuration.Config, tmp_path: Path
) -> None:
    root = Path(config.sandbox_root)
    installing = tar_assignment(servers, slow_tarball(tmp_path), "slow", "1.0")
    deb = build_deb(tmp_path, "big-app", "1.0", payload_bytes=2 * 1024 * 1024)
    downloading = assignment_for(servers, deb, "big-app", "1.0")
    servers.transfer.hang_at = 512 * 1024
    process, log = start_agent(config, tmp_path)
    try:
        stream = servers.edge.next_stream()
        stream.push(assignment=installing)
        wait_for(lambda: lines(root / "slow.log") == ["start"], what="install.sh to start")
        stream.push(assignment=downloading)
        assert servers.transfer.hanging.wait(30)
        process.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping on signal" in log.read_text(), what="the agent to take the signal")
        (root / "release").write_text("go\n")
        result = result_of(stream, installing)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)

    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert lines(root / "slow.log") == ["start", "end"]
    entry = journal.Journal(config.state_dir).get(downloading.assignment_id, 1)
    assert entry is not None and not entry.finished and entry.state == journal.DOWNLOADING
    part = Path(config.state_dir) / "downloads" / (downloading.package.sha256 + ".part")
    assert part.stat().st_size >= 512 * 1024
