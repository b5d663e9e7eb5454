"""The task runner's safety rules, against the fake edge and transfer with real package tools in sandbox
roots: downloads that hang or outlive their grant, deadlines, two tasks at once, what an assignment may
name, the deploy profile, and crash recovery that rolls forward."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.test_run import (
    assignment_for,
    deliver,
    dpkg_install,
    installed,
    journal_installing,
    result_of,
    running,
)
from tests.agent.test_run_fakes import Servers, Stream, agent_pb2, configuration, tasks, wait_for
from tests.support.packages import build_deb
from tests.support.sandbox import build_scripted_deb, build_scripted_tarball, script_log

S = agent_pb2


def with_deadline(assignment: S.Assignment, seconds: float) -> S.Assignment:
    assignment.deadline.FromNanoseconds(int((time.time() + seconds) * 1e9))
    return assignment


def tar_assignment(
    servers: Servers, tarball: Path, name: str, version: str, release: str = ""
) -> S.Assignment:
    data = tarball.read_bytes()
    sha, grant = servers.transfer.add(data)
    return S.Assignment(
        assignment_id=str(uuid.uuid4()),
        deployment_id=str(uuid.uuid4()),
        attempt=1,
        action=S.ACTION_INSTALL,
        package=S.PackageFacts(
            name=name, version=version, release=release, format=S.FORMAT_TAR, sha256=sha, size=len(data)
        ),
        download_grant=grant,
        transfer_address=f":{servers.transfer_port}",
    )


def downloads(config: configuration.Config, sha: str) -> list[str]:
    return sorted(path.name for path in (Path(config.state_dir) / "downloads").glob(sha + "*"))


def hanging_download(servers: Servers, tmp_path: Path, name: str) -> tuple[Path, S.Assignment]:
    """A 2 MiB deb and its assignment; transfer stops sending it after 512 KiB (until `unhang` is set)."""
    deb = build_deb(tmp_path, name, "1.0", payload_bytes=2 * 1024 * 1024)
    servers.transfer.hang_at = 512 * 1024
    return deb, assignment_for(servers, deb, name, "1.0")


@contextlib.contextmanager
def hung(servers: Servers, config: configuration.Config, task: S.Assignment) -> Iterator[Stream]:
    """The agent running, `task` pushed to it and its download hanging."""
    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=task)
        assert servers.transfer.hanging.wait(30)
        yield stream


def test_a_cancel_aborts_a_download_that_hangs_and_keeps_the_part(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    _, task = hanging_download(servers, tmp_path, "stuck-app")

    with hung(servers, config, task) as stream:
        stream.push(cancel=S.Cancel(assignment_id=task.assignment_id, reason="operator cancelled"))
        result = result_of(stream, task)

    assert result.state == S.TASK_STATE_CANCELLED
    assert result.message == "operator cancelled"
    assert downloads(config, task.package.sha256) == [task.package.sha256 + ".part"]


def test_a_download_that_hangs_fails_at_the_deadline(
    servers: Servers, config: configuration.Config, tmp_path: Path
) -> None:
    _, task = hanging_download(servers, tmp_path, "late-app")
    with_deadline(task, 3)

    result = deliver(servers, config, task)

    assert result.state == S.TASK_STATE_FAILED
    assert "deadline" in result.message


def test_a_resumed_download_uses_the_grant_of_the_redelivered_assignment(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb, task = hanging_download(servers, tmp_path, "regrant-app")

    with hung(servers, config, task) as stream:
        # The first grant expires; the scheduler redelivers the assignment with a fresh one.
        servers.transfer.grants[task.package.sha256] = {"fresh-grant"}
        again = S.Assignment()
        again.CopyFrom(task)
        again.download_grant = "fresh-grant"
        stream.push(assignment=again)
        # Messages are handled in order: once this one is answered, the redelivery has been taken.
        marker = assignment_for(servers, deb, "-marker", "1.0")
        stream.push(assignment=marker)
        assert result_of(stream, marker).state == S.TASK_STATE_SKIPPED
        servers.transfer.unhang.set()
        result = result_of(stream, task)

    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert servers.transfer.request_grants == [task.download_grant, "fresh-grant"]
    assert installed(root, "regrant-app") == "1.0"


def test_the_deadline_does_not_run_while_waiting_for_approval(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "patient-app", "1.0")
    task = with_deadline(assignment_for(servers, deb, "patient-app", "1.0"), 3)
    task.require_approval = True

    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=task)
        stream.next("progress", where=lambda p: p.state == S.TASK_STATE_AWAITING_APPROVAL)
        deadline = task.deadline.seconds + 1
        wait_for(lambda: time.time() > deadline, timeout=10, what="the original deadline to pass")
        stream.push(approve=S.Approve(assignment_id=task.assignment_id, attempt=1))
        result = result_of(stream, task)

    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert installed(root, "patient-app") == "1.0"


def test_a_tar_package_with_a_release_is_verified_as_version_release(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    tarball = build_scripted_tarball(tmp_path, "rel-app", "1.0")
    task = tar_assignment(servers, tarball, "rel-app", "1.0", release="2")

    result = deliver(servers, config, task)

    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert result.installed_version == "1.0-2"
    assert tasks.target_version(task.package) == "1.0-2"


def test_two_tasks_for_one_package_at_once_install_it_once(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb = build_scripted_deb(tmp_path, "twin-app", "1.0")
    first = assignment_for(servers, deb, "twin-app", "1.0")
    second = assignment_for(servers, deb, "twin-app", "1.0")
    servers.transfer.chunk_size = 512
    servers.transfer.chunk_delay = 0.01

    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=first)
        stream.push(assignment=second)
        results = [stream.next("result").result, stream.next("result").result]

    assert {result.assignment_id for result in results} == {first.assignment_id, second.assignment_id}
    assert sorted(result.state for result in results) == [S.TASK_STATE_SUCCEEDED, S.TASK_STATE_UNCHANGED]
    assert script_log(root, "twin-app") == ["preinst install 1.0", "postinst configure 1.0"]
    assert {offset for _, offset, _ in servers.transfer.requests} == {0}
    assert downloads(config, first.package.sha256) == []


@pytest.mark.parametrize("name", ["-rf", "--admindir=/tmp", "../etc", "a b", ""])
def test_an_invalid_package_name_is_skipped_before_any_tool_runs(
    servers: Servers, config: configuration.Config, tmp_path: Path, name: str
) -> None:
    deb = build_deb(tmp_path, "named-app", "1.0")
    task = assignment_for(servers, deb, name, "1.0")

    result = deliver(servers, config, task)

    assert result.state == S.TASK_STATE_SKIPPED
    assert "invalid package name" in result.message
    assert servers.transfer.requests == []


def test_the_deploy_profile_runs_hooks_restart_and_a_health_check(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    tarball = build_scripted_tarball(tmp_path, "hooked", "1.0", hooks=True)
    task = tar_assignment(servers, tarball, "hooked", "1.0")
    task.deploy_profile.pre_hook = "hooks/pre.sh"
    task.deploy_profile.post_hook = "hooks/post.sh"
    task.deploy_profile.restart_service = "hooked.service"
    task.deploy_profile.health_check.command.argv.extend(["test", "-f", str(root / "opt/hooked/VERSION")])
    task.deploy_profile.health_check.timeout_seconds = 10

    result = deliver(servers, config, task)

    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    unpacked = root / "var/lib/convoy/tar/hooked/1.0"
    assert script_log(root, "hooked") == [
        f"{word} hooked 1.0 {unpacked}" for word in ("pre", "install", "post")
    ]
    tail = list(result.log_tail)
    assert "restart_service hooked.service skipped: the agent works in a sandbox root" in tail
    assert "health check passed" in tail


class Unhealthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def unhealthy_url() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), Unhealthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()


def test_a_failing_health_check_fails_the_task(
    servers: Servers, config: configuration.Config, tmp_path: Path, unhealthy_url: str
) -> None:
    by_http = tar_assignment(servers, build_scripted_tarball(tmp_path, "web-a", "1.0"), "web-a", "1.0")
    by_http.deploy_profile.health_check.http_url = unhealthy_url
    by_command = tar_assignment(servers, build_scripted_tarball(tmp_path, "web-b", "1.0"), "web-b", "1.0")
    by_command.deploy_profile.health_check.command.argv.extend(["sh", "-c", "echo not ready; exit 3"])

    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=by_http)
        http_result = result_of(stream, by_http)
        stream.push(assignment=by_command)
        command_result = result_of(stream, by_command)

    assert http_result.state == S.TASK_STATE_FAILED
    assert http_result.message == f"health check failed: GET {unhealthy_url} answered 503"
    assert command_result.state == S.TASK_STATE_FAILED
    assert command_result.message.startswith("health check failed: sh exited with status 3")


def result_after_a_crash(servers: Servers, config: configuration.Config, task: S.Assignment) -> S.TaskResult:
    """Starts the agent over a journal in which `task` was installing; the result its recovery reports."""
    journal_installing(config, task)
    with running(config):
        return result_of(servers.edge.next_stream(), task)


def mark_half_installed(root: Path, name: str) -> None:
    """dpkg's record of a package whose unpack was cut off."""
    status = root / "var/lib/dpkg/status"
    text = status.read_text()
    start = text.index(f"Package: {name}\n")
    end = text.find("\n\n", start)
    stanza = text[start : end if end >= 0 else len(text)]
    changed = stanza.replace("Status: install ok installed", "Status: install reinstreq half-installed")
    assert changed != stanza
    status.write_text(text.replace(stanza, changed))


def test_recovery_rolls_a_half_installed_deb_forward_from_the_finished_download(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb = build_scripted_deb(tmp_path, "torn-app", "1.0")
    task = assignment_for(servers, deb, "torn-app", "1.0")
    dpkg_install(root, deb)
    mark_half_installed(root, "torn-app")
    assert installed(root, "torn-app") == ""
    finished = Path(config.state_dir) / "downloads" / (task.package.sha256 + ".done")
    finished.parent.mkdir(parents=True, exist_ok=True)
    finished.write_bytes(deb.read_bytes())
    result = result_after_a_crash(servers, config, task)

    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert result.message.startswith("rolled forward after an interruption")
    assert installed(root, "torn-app") == "1.0"


def test_recovery_verifies_the_task_package_despite_an_unrelated_broken_one(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    good = build_scripted_deb(tmp_path, "fine-app", "1.0")
    broken = build_scripted_deb(tmp_path, "other-broken", "1.0", always_fail=True)
    task = assignment_for(servers, good, "fine-app", "1.0")
    dpkg_install(root, good)
    dpkg_install(root, broken, check=False)
    result = result_after_a_crash(servers, config, task)

    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert result.message.startswith("recovered after an interruption")
    assert any("other-broken" in line for line in result.log_tail)


def test_a_new_task_rewrites_whatever_state_the_journal_held() -> None:
    task = tasks.Task(S.Assignment(assignment_id="a1", attempt=1))
    assert task.journaled is None
