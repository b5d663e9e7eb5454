"""Out-of-band changes: software changed by hand in the node's sandbox root (dpkg/rpm run directly, behind the
agent's back) reaches the scheduler as an InstalledReport; an unchanged set does not go out again; the
scheduler's watch list adds software the agent never installed, and is kept across restarts."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from pathlib import Path

import pytest
from convoy_agent import installed as out_of_band

from tests.agent.test_run import assignment_for, dpkg_install, installed, result_of, running
from tests.agent.test_run_fakes import Servers, Stream, agent_pb2, configuration, enroll_node, wait_for
from tests.support.packages import build_deb
from tests.support.sandbox import build_scripted_rpm, rpm_root, rpm_versions

S = agent_pb2
TOOL_TIMEOUT = 60


def tuned(config: configuration.Config, *, interval: float = 3600.0) -> configuration.Config:
    """Package databases looked at every 0.1 s; the periodic reread only every `interval` seconds."""
    config.package_check_seconds = 0.1
    config.inventory_interval_seconds = interval
    return config


def dpkg_remove(root: Path, name: str) -> None:
    subprocess.run(
        ["dpkg", f"--root={root}", "--force-script-chrootless", "--remove", name],
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        check=True,
    )


def reported(stream: Stream) -> dict[str, tuple[str, int]]:
    """The next InstalledReport as name -> (version, format)."""
    report = stream.next("installed").installed
    return {item.name: (item.version, item.format) for item in report.installed}


def quiet_for_heartbeats(stream: Stream, count: int = 4) -> list[str]:
    """What the agent sent while it sent `count` heartbeats (besides them)."""
    mark = len(stream.history)
    for _ in range(count):
        stream.next("heartbeat")
    return [m.WhichOneof("message") for m in stream.history[mark:] if not m.HasField("heartbeat")]


def test_a_package_removed_by_hand_is_reported_and_the_agents_own_install_right_after_its_result(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    tuned(config)
    flag = tmp_path / "healthy"
    deb = build_deb(tmp_path, "hand-app", "1.0")
    task = assignment_for(servers, deb, "hand-app", "1.0")
    # The health check holds the task in its package operation, with the package installed already.
    check = task.deploy_profile.health_check
    check.command.argv.extend(["sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.05; done', str(flag)])
    check.timeout_seconds = 60

    with running(config):
        stream = servers.edge.next_stream()
        hello = stream.next("hello").hello
        stream.push(assignment=task)
        wait_for(lambda: installed(root, "hand-app") == "1.0", what="the package to be installed")
        while_installing = quiet_for_heartbeats(stream)
        flag.touch()
        result = result_of(stream, task)
        after_result = reported(stream)
        dpkg_remove(root, "hand-app")
        after_removal = reported(stream)

    assert list(hello.installed) == []
    assert "installed" not in while_installing
    assert result.state == S.TASK_STATE_SUCCEEDED, result.message
    assert after_result == {"hand-app": ("1.0", S.FORMAT_DEB)}
    assert after_removal == {}


def test_an_unchanged_set_is_not_sent_again(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    tuned(config, interval=0.1)
    dpkg_install(root, build_deb(tmp_path, "kept-app", "2.0"))
    with running(config):
        stream = servers.edge.next_stream()
        stream.push(watch=S.Watch(software_names=["kept-app"]))
        assert reported(stream) == {"kept-app": ("2.0", S.FORMAT_DEB)}

    with running(config):
        stream = servers.edge.next_stream()
        hello = stream.next("hello").hello
        # A reread every 0.1 s, and a package nobody watches installed by hand: nothing new to say.
        dpkg_install(root, build_deb(tmp_path, "other-app", "1.0"))
        quiet = quiet_for_heartbeats(stream)
        dpkg_install(root, build_deb(tmp_path, "kept-app", "2.1"))
        changed = reported(stream)
        stream.push(watch=S.Watch(software_names=["kept-app"]))  # the same list again
        after_same_list = quiet_for_heartbeats(stream)

    assert [(item.name, item.version) for item in hello.installed] == [("kept-app", "2.0")]
    assert "installed" not in quiet
    assert changed == {"kept-app": ("2.1", S.FORMAT_DEB)}
    assert "installed" not in after_same_list


def test_watched_software_is_reported_though_the_agent_never_installed_it_and_the_list_is_kept(
    servers: Servers, config: configuration.Config, root: Path, tmp_path: Path
) -> None:
    tuned(config)
    dpkg_install(root, build_deb(tmp_path, "legacy-app", "0.9"))

    with running(config):
        stream = servers.edge.next_stream()
        hello = stream.next("hello").hello
        stream.push(watch=S.Watch(software_names=["legacy-app", "absent-app", "-rf", "../etc"]))
        watched = reported(stream)
    with running(config):
        again = servers.edge.next_stream()
        second_hello = again.next("hello").hello
        again.push(watch=S.Watch(software_names=[]))
        emptied = reported(again)
    with running(config):
        third_hello = servers.edge.next_stream().next("hello").hello

    assert list(hello.installed) == []
    assert watched == {"legacy-app": ("0.9", S.FORMAT_DEB)}
    assert json.loads(Path(config.watch_file).read_text()) == []
    assert [(item.name, item.version) for item in second_hello.installed] == [("legacy-app", "0.9")]
    assert emptied == {}
    assert list(third_hello.installed) == []


def test_an_rpm_erased_by_hand_is_reported(servers: Servers, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("rpm scriptlets chroot into the sandbox root, which takes root: run the tests as root")
    root = rpm_root(tmp_path)
    config = enroll_node(servers, tmp_path, S.Facts(hostname="rpm-node"), root=root)
    config.heartbeat_seconds = 0.3
    tuned(config)
    package = build_scripted_rpm(tmp_path, "erased-app", "3.0", "2")
    rpm = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm"]
    subprocess.run(
        [*rpm, "-i", "--nodeps", str(package)], capture_output=True, timeout=TOOL_TIMEOUT, check=True
    )

    with running(config):
        stream = servers.edge.next_stream()
        stream.next("hello")
        stream.push(watch=S.Watch(software_names=["erased-app"]))
        before = reported(stream)
        subprocess.run([*rpm, "-e", "erased-app"], capture_output=True, timeout=TOOL_TIMEOUT, check=True)
        after = reported(stream)

    assert before == {"erased-app": ("3.0-2", S.FORMAT_RPM)}
    assert rpm_versions(root, "erased-app") == []
    assert after == {}


def test_a_package_tool_holding_its_database_lock_is_seen_without_taking_the_lock(
    root: Path, tmp_path: Path
) -> None:
    dpkg_install(root, build_deb(tmp_path, "lock-app", "1.0"))  # dpkg leaves its lock files behind
    lock = root / "var/lib/dpkg/lock"

    assert lock.exists() and not out_of_band.tool_running(str(root))
    with lock.open("w") as held:
        fcntl.lockf(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as dpkg locks it (fcntl F_SETLK)
        assert out_of_band.tool_running(str(root))
        fcntl.lockf(held, fcntl.LOCK_UN)
    assert not out_of_band.tool_running(str(root))
