"""The agent's metrics: served on `metrics_listen` by `convoy-agent run` (off by default), counting the
stream, reconnects, tasks by action and result, their time, and the bytes downloaded."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.agent.test_cli import agent_command, agent_env
from tests.agent.test_run import assignment_for, result_of, running
from tests.agent.test_run_fakes import (
    TOKEN,
    WAIT,
    Servers,
    agent_pb2,
    configuration,
    journal,
    tasks,
    wait_for,
)
from tests.support.metrics import sample_value
from tests.support.packages import build_deb

S = agent_pb2
_SERVED = re.compile(r"metrics on (http://127\.0\.0\.1:\d+/metrics)")


def agent_sample(name: str, **labels: str) -> float:
    from convoy_agent import metrics

    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a loopback URL the agent logged
        return response.read().decode()


def _enrolled_config(servers: Servers, tmp_path: Path, **values: object) -> Path:
    config_file, root = tmp_path / "agent.json", tmp_path / "root"
    root.mkdir()
    enroll = agent_command(
        "enroll", "--server", servers.enroll_address, "--token", TOKEN,
        "--ca-fingerprint", servers.pki.fingerprint, "--state-dir", str(tmp_path / "state"),
        "--config", str(config_file), "--sandbox-root", str(root),
    )  # fmt: skip
    subprocess.run(enroll, env=agent_env(), capture_output=True, timeout=60, check=True)
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), **values}))
    return config_file


def test_run_serves_the_agent_metrics_on_metrics_listen(servers: Servers, tmp_path: Path) -> None:
    config_file = _enrolled_config(servers, tmp_path, heartbeat_seconds=0.2, metrics_listen="127.0.0.1:0")
    log = tmp_path / "agent.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            agent_command("run", "--config", str(config_file)), env=agent_env(), stdout=output, stderr=output
        )
    try:
        servers.edge.next_stream().next("hello")
        url = wait_for(lambda: _served_at(log), what="the metrics address in the log")
        exposition = wait_for(lambda: _connected(url), what="convoy_agent_connected 1")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    assert process.returncode == 0, log.read_text()
    assert sample_value(exposition, "convoy_agent_reconnects_total", {}) == 0
    assert (
        sample_value(exposition, "convoy_agent_tasks_total", {"action": "install", "result": "failed"}) == 0
    )
    assert sample_value(exposition, "convoy_agent_download_bytes_total", {}) == 0
    assert sample_value(exposition, "process_open_fds", {}) is not None


def _served_at(log: Path) -> str | None:
    found = _SERVED.search(log.read_text())
    return found.group(1) if found else None


def _connected(url: str) -> str | None:
    exposition = scrape(url)
    return exposition if sample_value(exposition, "convoy_agent_connected", {}) == 1 else None


def test_metrics_listen_is_off_by_default_and_must_name_its_host() -> None:
    assert configuration.Config({}).metrics_listen == ""
    assert configuration.Config({"metrics_listen": "127.0.0.1:9464"}).metrics_listen == "127.0.0.1:9464"
    for wrong in (":9464", "9464", "127.0.0.1:http", "127.0.0.1:70000", 9464):
        with pytest.raises(configuration.ConfigError, match="metrics_listen must be host:port"):
            configuration.Config({"metrics_listen": wrong})


def test_metrics_listen_refuses_all_interfaces() -> None:
    for everywhere in ("0.0.0.0:9464", "[::]:9464", "[::0]:9464", "0:9464"):
        with pytest.raises(configuration.ConfigError, match="must name a local or management address"):
            configuration.Config({"metrics_listen": everywhere})
    for named in ("[::1]:9464", "10.0.0.5:9464", "mgmt.example.net:9464"):
        assert configuration.Config({"metrics_listen": named}).metrics_listen == named


def test_tasks_downloads_and_reconnects_are_counted(
    servers: Servers, config: configuration.Config, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "metered-app", "1.0")
    task = assignment_for(servers, deb, "metered-app", "1.0")
    succeeded = agent_sample("convoy_agent_tasks_total", action="install", result="succeeded")
    timed = agent_sample("convoy_agent_task_seconds_count", action="install")
    downloaded = agent_sample("convoy_agent_download_bytes_total")
    reconnects = agent_sample("convoy_agent_reconnects_total")

    with running(config):
        first = servers.edge.next_stream()
        first.push(assignment=task)
        assert result_of(first, task).state == S.TASK_STATE_SUCCEEDED
        wait_for(lambda: agent_sample("convoy_agent_connected") == 1, what="the stream counted as open")
        first.close()
        servers.edge.next_stream().next("hello")
        wait_for(lambda: agent_sample("convoy_agent_reconnects_total") == reconnects + 1, WAIT, "a reconnect")

    assert agent_sample("convoy_agent_tasks_total", action="install", result="succeeded") == succeeded + 1
    assert agent_sample("convoy_agent_task_seconds_count", action="install") == timed + 1
    assert agent_sample("convoy_agent_download_bytes_total") == downloaded + deb.stat().st_size
    assert agent_sample("convoy_agent_connected") == 0


class RecoveredMeanwhile(journal.Journal):
    """A journal in which another recovery of the same task records its result just before this one."""

    def record_result(self, assignment_id: str, attempt: int, state: str, result: bytes, **details: object):
        earlier = S.TaskResult(
            assignment_id=assignment_id,
            attempt=attempt,
            state=S.TASK_STATE_FAILED,
            message="recovered meanwhile",
        )
        super().record_result(assignment_id, attempt, "failed", earlier.SerializeToString())
        return super().record_result(assignment_id, attempt, state, result, **details)


def no_executor(name: str) -> object:
    raise RuntimeError(f"no {name} executor in this test")


def recover_one(config: configuration.Config, book: journal.Journal) -> S.TaskResult:
    """Journals a task a crash left installing (its package name invalid: recovery skips it) and runs the
    runner's recovery over it; the result it reports."""
    task = S.Assignment(
        assignment_id=str(uuid.uuid4()),
        attempt=1,
        action=S.ACTION_INSTALL,
        package=S.PackageFacts(name="not a package name", format=S.FORMAT_DEB),
    )
    book.begin(task.assignment_id, 1, task.SerializeToString())
    book.record_state(task.assignment_id, 1, journal.INSTALLING)
    runner = tasks.TaskRunner(config, book, no_executor, no_executor)
    (result,) = runner.recover()
    return result


def install_results() -> dict[str, float]:
    return {
        name: agent_sample("convoy_agent_tasks_total", action="install", result=name)
        for name in ("failed", "skipped")
    }


def test_a_recovered_task_counts_once(tmp_path: Path) -> None:
    config = configuration.Config({"state_dir": str(tmp_path)})
    before = install_results()

    result = recover_one(config, journal.Journal(config.state_dir))

    assert result.state == S.TASK_STATE_SKIPPED
    assert install_results() == {**before, "skipped": before["skipped"] + 1}


def test_a_result_another_recovery_recorded_first_is_not_counted_again(tmp_path: Path) -> None:
    config = configuration.Config({"state_dir": str(tmp_path)})
    before = install_results()

    result = recover_one(config, RecoveredMeanwhile(config.state_dir))

    assert (result.state, result.message) == (S.TASK_STATE_FAILED, "recovered meanwhile")
    assert install_results() == before
