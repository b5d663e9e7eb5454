"""`convoy-agent run` in process against a fake edge and transfer: the Connect stream, tasks with the real dpkg
in a sandbox root, resumed downloads, the journal, reconnects, renewal, cancel and approval."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509

from tests.agent.test_run_fakes import (
    Servers,
    agent_pb2,
    cli,
    configuration,
    connection,
    enroll,
    enroll_node,
    journal,
    wait_for,
)
from tests.support.packages import build_deb

S = agent_pb2


class RecordedBackoff(connection.Backoff):
    """The agent's backoff, keeping every delay it hands out."""

    def __init__(self, config: configuration.Config) -> None:
        super().__init__(config.backoff_initial_seconds, config.backoff_max_seconds)
        self.delays: list[float] = []

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.delays.append(delay)
        return delay


@contextlib.contextmanager
def running(
    config: configuration.Config, backoff: connection.Backoff | None = None
) -> Iterator[connection.Agent]:
    agent = cli.build_agent(config)
    if backoff is not None:
        agent.backoff = backoff
    agent.runner.recover()
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        agent.stop()
        thread.join(15)
        assert not thread.is_alive()


def installed(root: Path, name: str) -> str:
    done = subprocess.run(
        ["dpkg-query", f"--root={root}", "-W", "-f=${Status} ${Version}", name],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    words = done.stdout.split()
    return words[-1] if done.returncode == 0 and words[:3] == ["install", "ok", "installed"] else ""


def assignment_for(
    servers: Servers, deb: Path, name: str, version: str, *, action: int = S.ACTION_INSTALL, attempt: int = 1
) -> S.Assignment:
    data = deb.read_bytes()
    sha, grant = servers.transfer.add(data)
    return S.Assignment(
        assignment_id=str(uuid.uuid4()),
        deployment_id=str(uuid.uuid4()),
        attempt=attempt,
        action=action,
        package=S.PackageFacts(
            name=name, version=version, format=S.FORMAT_DEB, arch="all", sha256=sha, size=len(data)
        ),
        download_grant=grant,
        transfer_address=f":{servers.transfer_port}",
    )


def result_of(stream, assignment: S.Assignment) -> S.TaskResult:
    def matches(result: S.TaskResult) -> bool:
        return result.assignment_id == assignment.assignment_id and result.attempt == assignment.attempt

    return stream.next("result", where=matches).result


def dpkg_install(root: Path, package: Path, *, check: bool = True) -> None:
    """Installs `package` in the root with dpkg itself, behind the agent's back."""
    subprocess.run(
        ["dpkg", f"--root={root}", "--force-script-chrootless", "-i", str(package)],
        capture_output=True,
        timeout=60,
        check=check,
    )


def journal_installing(config: configuration.Config, task: S.Assignment) -> None:
    """What a crash in the middle of the package operation leaves behind: a journaled task, installing."""
    book = journal.Journal(config.state_dir)
    book.begin(task.assignment_id, 1, task.SerializeToString(), name=task.package.name, format=S.FORMAT_DEB)
    book.record_state(task.assignment_id, 1, journal.INSTALLING)


def deliver(servers: Servers, config: configuration.Config, assignment: S.Assignment) -> S.TaskResult:
    """Runs the agent, pushes `assignment` on its stream and returns the task's result."""
    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=assignment)
        return result_of(stream, assignment)


def test_hello_assignment_resumed_download_install_result(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "hello-app", "1.2.0", payload_bytes=2 * 1024 * 1024)
    task = assignment_for(servers, deb, "hello-app", "1.2.0")
    servers.transfer.break_at = 600 * 1024

    with running(config):
        stream = servers.edge.next_stream()
        hello = stream.next("hello").hello
        stream.push(assignment=task)
        result = result_of(stream, task)

    assert stream.node_id == config.node_id
    assert hello.facts.hostname
    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert result.installed_version == "1.2.0" == installed(root, "hello-app")
    assert result.log_tail and result.finished_at.seconds >= result.started_at.seconds
    offsets = [offset for sha, offset, _ in servers.transfer.requests if sha == task.package.sha256]
    assert offsets[0] == 0 and len(offsets) == 2 and offsets[1] >= 512 * 1024, offsets
    assert {node for _, _, node in servers.transfer.requests} == {config.node_id}
    states = [progress.state for progress in stream.progress(task.assignment_id)]
    assert states[0] == S.TASK_STATE_ASSIGNED
    assert S.TASK_STATE_DOWNLOADING in states and S.TASK_STATE_INSTALLING in states
    assert states.index(S.TASK_STATE_DOWNLOADING) < states.index(S.TASK_STATE_INSTALLING)
    percents = [p.percent for p in stream.progress(task.assignment_id) if p.state == S.TASK_STATE_DOWNLOADING]
    assert percents == sorted(percents) and percents[-1] == 100 and len(set(percents)) > 2
    assert not list((Path(config.state_dir) / "downloads").glob(task.package.sha256 + "*"))


def test_redelivery_is_answered_from_the_journal_and_the_same_version_is_unchanged(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "hello-app", "2.0")
    first = assignment_for(servers, deb, "hello-app", "2.0")
    again = assignment_for(servers, deb, "hello-app", "2.0")

    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=first)
        original = result_of(stream, first)
        stream.push(ack=S.Ack(assignment_id=first.assignment_id, attempt=1))
        downloads = len(servers.transfer.requests)
        stream.push(assignment=first)
        repeated = result_of(stream, first)
        stream.push(assignment=again)
        unchanged = result_of(stream, again)

    assert original.state == S.TASK_STATE_SUCCEEDED
    assert repeated == original
    assert unchanged.state == S.TASK_STATE_UNCHANGED and unchanged.installed_version == "2.0"
    assert len(servers.transfer.requests) == downloads
    assert installed(root, "hello-app") == "2.0"


def test_results_are_resent_after_a_reconnect_until_acknowledged(
    servers: Servers, config: configuration.Config, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "resend-app", "1.0")
    task = assignment_for(servers, deb, "resend-app", "1.0")
    backoff = RecordedBackoff(config)

    with running(config, backoff) as agent:
        first = servers.edge.next_stream()
        first.push(assignment=task)
        result = result_of(first, task)
        servers.edge.refuse_next = 3
        first.close()
        second = servers.edge.next_stream()
        second.next("hello")
        resent = result_of(second, task)
        second.push(ack=S.Ack(assignment_id=task.assignment_id, attempt=1))
        wait_for(lambda: agent.runner.pending_results() == [], what="the ack to be journaled")
        second.close()
        third = servers.edge.next_stream()
        third.next("hello")
        third.next("heartbeat")

    assert resent == result
    assert not [m for m in third.history if m.HasField("result")]
    # Three refused attempts, each delay drawn below the cap.
    assert len(backoff.delays) >= 4
    assert all(0 < delay <= config.backoff_max_seconds for delay in backoff.delays)


def test_the_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    backoff = connection.Backoff(1.0, 8.0, rand=lambda: 1.0)
    low = connection.Backoff(1.0, 8.0, rand=lambda: 0.0)

    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert [low.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_a_cancel_during_the_download_cancels_the_task(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "slow-app", "1.0", payload_bytes=4 * 1024 * 1024)
    task = assignment_for(servers, deb, "slow-app", "1.0")
    servers.transfer.chunk_size = 64 * 1024
    servers.transfer.chunk_delay = 0.05

    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=task)
        stream.next("progress", where=lambda p: p.state == S.TASK_STATE_DOWNLOADING and p.percent > 0)
        stream.push(cancel=S.Cancel(assignment_id=task.assignment_id, reason="operator cancelled"))
        result = result_of(stream, task)

    assert result.state == S.TASK_STATE_CANCELLED
    assert result.message == "operator cancelled"
    assert installed(root, "slow-app") == ""


def test_a_package_reporting_another_version_fails(
    servers: Servers, config: configuration.Config, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "liar-app", "3.1")
    task = assignment_for(servers, deb, "liar-app", "3.0")

    result = deliver(servers, config, task)

    assert result.state == S.TASK_STATE_FAILED
    assert "expected version 3.0 after the change, found 3.1" in result.message
    assert result.installed_version == "3.1"


def test_a_refused_grant_fails_the_task(
    servers: Servers, config: configuration.Config, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "denied-app", "1.0")
    task = assignment_for(servers, deb, "denied-app", "1.0")
    task.download_grant = "forged"

    result = deliver(servers, config, task)

    assert result.state == S.TASK_STATE_FAILED
    assert "PERMISSION_DENIED" in result.message


def test_uninstall_removes_and_verifies(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "gone-app", "1.0")
    install = assignment_for(servers, deb, "gone-app", "1.0")
    remove = assignment_for(servers, deb, "gone-app", "1.0", action=S.ACTION_UNINSTALL)
    again = assignment_for(servers, deb, "gone-app", "1.0", action=S.ACTION_UNINSTALL)

    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=install)
        assert result_of(stream, install).state == S.TASK_STATE_SUCCEEDED
        stream.push(assignment=remove)
        removed = result_of(stream, remove)
        stream.push(assignment=again)
        nothing = result_of(stream, again)

    assert removed.state == S.TASK_STATE_SUCCEEDED and removed.installed_version == ""
    assert nothing.state == S.TASK_STATE_UNCHANGED
    assert installed(root, "gone-app") == ""


def test_hello_reports_managed_software_and_recovery_reports_an_interrupted_install(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    deb = build_deb(tmp_path, "crash-app", "1.0")
    task = assignment_for(servers, deb, "crash-app", "1.0")
    dpkg_install(root, deb)
    journal_installing(config, task)

    with running(config):
        stream = servers.edge.next_stream()
        hello = stream.next("hello").hello
        result = result_of(stream, task)

    assert [(s.name, s.version, s.format) for s in hello.installed] == [("crash-app", "1.0", S.FORMAT_DEB)]
    assert result.state == S.TASK_STATE_SUCCEEDED
    assert result.message.startswith("recovered after an interruption")


def test_the_certificate_is_renewed_with_a_new_key_when_a_third_of_its_life_is_left(
    servers: Servers, root: Path, tmp_path: Path
) -> None:
    from datetime import timedelta

    servers.edge.lifetime = timedelta(minutes=1)  # plus five minutes of clock skew allowance: due at once
    config = enroll_node(servers, tmp_path, S.Facts(hostname="node-2"), root=root)
    config.heartbeat_seconds = 0.2
    old_key = Path(config.key_file).read_bytes()

    with running(config):
        first = servers.edge.next_stream()
        first.next("hello")
        second = servers.edge.next_stream()
        second.next("hello")

    assert servers.edge.renewals == [config.node_id]
    assert Path(config.key_file).read_bytes() != old_key
    certificate = x509.load_pem_x509_certificate(Path(config.cert_file).read_bytes())
    assert enroll.not_after(certificate) - enroll.not_before(certificate) > 24 * 3600
    assert connection.load_identity(config).certificate == certificate
    assert not list(Path(config.state_dir).glob("*.next"))


def test_approval_waits_for_the_operator_or_the_node(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    from convoy_agent import approvals

    deb = build_deb(tmp_path, "careful-app", "1.0")
    deb2 = build_deb(tmp_path, "careful-two", "1.0")
    by_operator = assignment_for(servers, deb, "careful-app", "1.0")
    by_node = assignment_for(servers, deb2, "careful-two", "1.0")
    for task in (by_operator, by_node):
        task.require_approval = True  # type: ignore[attr-defined]

    with running(config):
        stream = servers.edge.next_stream()
        stream.push(assignment=by_operator)
        stream.next("progress", where=lambda p: p.state == S.TASK_STATE_AWAITING_APPROVAL)
        assert installed(root, "careful-app") == ""
        stream.push(approve=S.Approve(assignment_id=by_operator.assignment_id, attempt=1))
        first = result_of(stream, by_operator)
        stream.push(assignment=by_node)
        stream.next("progress", where=lambda p: p.state == S.TASK_STATE_AWAITING_APPROVAL)
        assert cli.main(["approve", by_node.assignment_id, "--config", str(config.path)]) == 0
        second = result_of(stream, by_node)

    assert first.state == second.state == S.TASK_STATE_SUCCEEDED
    assert approvals.waiting(config.approvals_dir) == []
