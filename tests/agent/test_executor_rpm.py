"""The rpm executor runs the real rpm on a sandbox root (scriptlets chrooted into it)."""

import os
from pathlib import Path

import pytest
from convoy_agent.executors import ExecutorError, Package, RpmExecutor, select_executor
from convoy_agent.executors.rpm import rpm_vercmp

from tests.support.sandbox import build_scripted_rpm, rpm_root, rpm_versions, script_log, set_failing


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.fail("rpm scriptlets chroot into the sandbox root, which takes root: run the tests as root")
    return rpm_root(tmp_path)


@pytest.fixture
def executor(root: Path) -> RpmExecutor:
    chosen = select_executor(2, sandbox_root=str(root), timeout=120)
    assert isinstance(chosen, RpmExecutor)
    return chosen


def test_install_update_rollback_remove(tmp_path: Path, root: Path, executor: RpmExecutor) -> None:
    old = build_scripted_rpm(tmp_path, "demo-app", "1.0", "1")
    new = build_scripted_rpm(tmp_path, "demo-app", "1.1", "1")
    lines: list[str] = []

    assert executor.installed_version("demo-app") is None
    executor.install(str(old), Package("demo-app", "1.0", "1"), lines.append)
    assert executor.installed_version("demo-app") == "1.0-1"
    assert rpm_versions(root, "demo-app") == ["1.0-1"]
    assert (root / "opt/demo-app/VERSION").read_text() == "1.0\n"
    assert any(line.startswith("$ rpm --root ") and "--nodeps" in line for line in lines)

    executor.update(str(new), Package("demo-app", "1.1", "1"), lines.append)
    assert rpm_versions(root, "demo-app") == ["1.1-1"]

    with pytest.raises(ExecutorError, match="would be a downgrade"):
        executor.install(str(old), Package("demo-app", "1.0", "1"), lines.append)

    executor.downgrade(str(old), Package("demo-app", "1.0", "1"), lines.append)
    assert rpm_versions(root, "demo-app") == ["1.0-1"]
    assert (root / "opt/demo-app/VERSION").read_text() == "1.0\n"

    # Installing what is there again is harmless.
    executor.install(str(old), Package("demo-app", "1.0", "1"), lines.append)
    assert rpm_versions(root, "demo-app") == ["1.0-1"]

    executor.remove("demo-app", lines.append)
    assert rpm_versions(root, "demo-app") == []
    assert not (root / "opt/demo-app/VERSION").exists()
    executor.remove("demo-app", lines.append)
    assert lines[-1] == "demo-app is not installed"

    assert script_log(root, "demo-app") == [
        "pre 1 1.0-1",
        "post 1 1.0-1",
        *("pre 2 1.1-1", "post 2 1.1-1", "preun 1 1.0-1", "postun 1 1.0-1"),  # update
        *("pre 2 1.0-1", "post 2 1.0-1", "preun 1 1.1-1", "postun 1 1.1-1"),  # downgrade
        *("pre 2 1.0-1", "post 2 1.0-1", "preun 1 1.0-1", "postun 1 1.0-1"),  # the same again
        "preun 0 1.0-1",
        "postun 0 1.0-1",
    ]


def test_failing_post_scriptlet_is_a_failure(tmp_path: Path, root: Path, executor: RpmExecutor) -> None:
    """rpm keeps the package and exits 0 when %post fails; the executor still reports the failure."""
    package = build_scripted_rpm(tmp_path, "flaky", "2.0")
    set_failing(root, "flaky")
    with pytest.raises(ExecutorError, match="a scriptlet of flaky failed") as failure:
        executor.install(str(package), Package("flaky", "2.0", "1"), lambda line: None)
    assert "%post(flaky-2.0-1.noarch) scriptlet failed" in str(failure.value)
    assert script_log(root, "flaky") == ["pre 1 2.0-1", "post 1 2.0-1"]
    set_failing(root, "flaky", False)
    executor.recover(lambda line: None)


def test_recover_drops_the_stale_entry_of_an_interrupted_upgrade(
    tmp_path: Path, root: Path, executor: RpmExecutor
) -> None:
    """An upgrade killed between adding the new header and erasing the old one leaves both registered
    (reproduced with --justdb -i of the new version next to the old one). Only the interrupted task's
    package is cleaned up: several versions of another package side by side (kernels) stay."""
    old = build_scripted_rpm(tmp_path, "twice", "1.0")
    new = build_scripted_rpm(tmp_path, "twice", "2.0")
    executor.install(str(old), Package("twice", "1.0", "1"), lambda line: None)
    executor.run(
        executor._rpm() + ["-i", "--justdb", "--nodeps", "--noscripts", "--replacefiles", str(new)],
        lambda line: None,
    )
    kernels = [build_scripted_rpm(tmp_path, "kernel-like", version) for version in ("5.1", "5.2")]
    for kernel in kernels:
        executor.run(
            executor._rpm() + ["-i", "--nodeps", "--noscripts", "--replacefiles", str(kernel)], print
        )
    assert sorted(rpm_versions(root, "twice")) == ["1.0-1", "2.0-1"]
    assert sorted(rpm_versions(root, "kernel-like")) == ["5.1-1", "5.2-1"]
    assert executor.installed_version("twice") == "2.0-1"

    lines: list[str] = []
    executor.recover(lines.append)  # no interrupted task named: nothing is dropped
    assert sorted(rpm_versions(root, "twice")) == ["1.0-1", "2.0-1"]
    executor.recover(lines.append, names=("twice",))
    assert rpm_versions(root, "twice") == ["2.0-1"]
    assert any("dropping the stale database entry twice-1.0-1.noarch" in line for line in lines)
    assert sorted(rpm_versions(root, "kernel-like")) == ["5.1-1", "5.2-1"]
    assert executor.list_installed() == {"twice": "2.0-1", "kernel-like": "5.2-1"}


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("1.0-1", "1.0-1", 0),
        ("1.0-2", "1.0-10", -1),
        ("1.10-1", "1.9-1", 1),
        ("1:1.0-1", "2.0-1", 1),
        ("1.0~rc1-1", "1.0-1", -1),
        ("1.0^post1-1", "1.0-1", 1),
        ("1.0a-1", "1.0-1", 1),
        ("1.0-1", "1.0.1-1", -1),
        ("2.0-1.el7", "2.0-1.el8", -1),
    ],
)
def test_rpm_version_order(left: str, right: str, expected: int) -> None:
    assert rpm_vercmp(left, right) == expected
    assert rpm_vercmp(right, left) == -expected
