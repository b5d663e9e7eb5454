"""The deb executor runs the real dpkg on a sandbox root: install, update, rollback, remove, recovery."""

from pathlib import Path

import pytest
from convoy_agent.executors import DebExecutor, ExecutorError, Package, select_executor
from convoy_agent.executors.base import suffixed
from convoy_agent.sandbox import Sandbox

from tests.support.sandbox import (
    build_scripted_deb,
    deb_root,
    dpkg_status,
    script_log,
    set_failing,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return deb_root(tmp_path)


@pytest.fixture
def executor(root: Path) -> DebExecutor:
    chosen = select_executor("deb", sandbox_root=str(root), timeout=120)
    assert isinstance(chosen, DebExecutor)
    return chosen


def test_install_update_rollback_remove(tmp_path: Path, root: Path, executor: DebExecutor) -> None:
    old = build_scripted_deb(tmp_path, "demo-app", "1.0-1")
    new = build_scripted_deb(tmp_path, "demo-app", "1.1-1")
    lines: list[str] = []

    assert executor.installed_version("demo-app") is None
    executor.install(str(old), Package("demo-app", "1.0-1"), lines.append)
    assert executor.installed_version("demo-app") == "1.0-1"
    assert dpkg_status(root, "demo-app") == ("install ok installed", "1.0-1")
    assert (root / "usr/share/demo-app/VERSION").read_text() == "1.0-1\n"
    assert any(line.startswith("$ dpkg --root=") for line in lines)
    assert any("Setting up demo-app (1.0-1)" in line for line in lines)

    executor.update(str(new), Package("demo-app", "1.1-1"), lines.append)
    assert executor.installed_version("demo-app") == "1.1-1"

    with pytest.raises(ExecutorError, match="would be a downgrade"):
        executor.install(str(old), Package("demo-app", "1.0-1"), lines.append)
    assert executor.installed_version("demo-app") == "1.1-1"

    executor.install(str(old), Package("demo-app", "1.0-1"), lines.append, allow_downgrade=True)
    assert executor.installed_version("demo-app") == "1.0-1"
    assert (root / "usr/share/demo-app/VERSION").read_text() == "1.0-1\n"

    executor.remove("demo-app", lines.append)
    assert executor.installed_version("demo-app") is None
    assert not (root / "usr/share/demo-app/VERSION").exists()
    executor.remove("demo-app", lines.append)  # already gone: nothing to do
    assert lines[-1] == "demo-app is not installed"

    assert script_log(root, "demo-app") == [
        "preinst install 1.0-1",
        "postinst configure 1.0-1",
        "prerm upgrade 1.0-1",
        "preinst upgrade 1.1-1",
        "postrm upgrade 1.0-1",
        "postinst configure 1.1-1",
        "prerm upgrade 1.1-1",
        "preinst upgrade 1.0-1",
        "postrm upgrade 1.1-1",
        "postinst configure 1.0-1",
        "prerm remove 1.0-1",
        "postrm remove 1.0-1",
    ]
    # Nothing went to the host's dpkg log.
    assert "demo-app" in (root / "var/log/dpkg.log").read_text()


def test_failing_postinst_leaves_a_state_recover_finishes(
    tmp_path: Path, root: Path, executor: DebExecutor
) -> None:
    package = build_scripted_deb(tmp_path, "flaky", "2.0")
    set_failing(root, "flaky")
    lines: list[str] = []
    with pytest.raises(ExecutorError) as failure:
        executor.install(str(package), Package("flaky", "2.0"), lines.append)
    assert "exited with status 1" in str(failure.value)
    assert any(
        "post-installation script subprocess returned error exit status 1" in line
        for line in failure.value.lines
    )
    assert dpkg_status(root, "flaky") == ("install ok half-configured", "2.0")
    assert executor.installed_version("flaky") is None

    with pytest.raises(ExecutorError, match="exited with status"):
        executor.recover(lines.append)  # the cause is still there
    set_failing(root, "flaky", False)
    executor.recover(lines.append)
    assert executor.installed_version("flaky") == "2.0"
    # Failed at install, failed again at the first recover, then succeeded.
    assert script_log(root, "flaky") == ["preinst install 2.0"] + ["postinst configure 2.0"] * 3
    executor.recover(lines.append)  # nothing left to do


def test_always_failing_postinst_stays_reported(tmp_path: Path, root: Path, executor: DebExecutor) -> None:
    package = build_scripted_deb(tmp_path, "broken", "1.0", always_fail=True)
    with pytest.raises(ExecutorError):
        executor.install(str(package), Package("broken", "1.0"), lambda line: None)
    lines: list[str] = []
    with pytest.raises(ExecutorError):
        executor.recover(lines.append)
    assert executor.installed_version("broken") is None
    # Removal still works: prerm does not fail.
    executor.remove("broken", lines.append)
    assert dpkg_status(root, "broken") in (None, ("deinstall ok config-files", "1.0"))


def test_missing_dependency_in_a_sandbox_is_refused_and_undone(
    tmp_path: Path, root: Path, executor: DebExecutor
) -> None:
    package = build_scripted_deb(tmp_path, "needy", "1.0", depends="convoy-absent-library (>= 3)")
    lines: list[str] = []
    with pytest.raises(ExecutorError, match="dependencies that are not installed") as failure:
        executor.install(str(package), Package("needy", "1.0"), lines.append)
    assert any("convoy-absent-library" in line for line in failure.value.lines)
    # No half-installed package stays behind; the database is consistent.
    assert executor.installed_version("needy") is None
    assert dpkg_status(root, "needy") in (
        None,
        ("deinstall ok config-files", "1.0"),
        ("unknown ok not-installed", ""),
    )
    executor.recover(lines.append)


def test_list_installed_and_epoch_versions(tmp_path: Path, root: Path, executor: DebExecutor) -> None:
    executor.install(
        str(build_scripted_deb(tmp_path, "alpha", "1:2.0~rc1-1")), Package("alpha", "1:2.0~rc1-1"), print
    )
    executor.install(str(build_scripted_deb(tmp_path, "beta", "0.1")), Package("beta", "0.1"), print)
    assert executor.list_installed() == {"alpha": "1:2.0~rc1-1", "beta": "0.1"}
    assert executor.list_installed(["beta", "gamma"]) == {"beta": "0.1"}
    # dpkg's ordering, epochs and tildes included.
    assert executor.version_lt("1:2.0~rc1-1", "1:2.0-1")
    assert not executor.version_lt("1:1.0", "9.9")


def test_commands_are_bounded_by_their_timeout(root: Path) -> None:
    executor = DebExecutor(Sandbox(str(root)), timeout=1)
    lines: list[str] = []
    with pytest.raises(ExecutorError, match="did not finish within 1 s and was killed") as failure:
        executor.run(["sh", "-c", "echo started; sleep 30 & wait"], lines.append)
    assert failure.value.lines == ["started"]
    assert lines == ["$ sh -c echo started; sleep 30 & wait", "started"]


def test_downloaded_file_names_are_fine(tmp_path: Path, root: Path, executor: DebExecutor) -> None:
    """Downloads are stored as <sha256>.done; dpkg reads them as they are, apt-get gets a .deb name."""
    stored = tmp_path / ("ab" * 32 + ".done")
    stored.write_bytes(build_scripted_deb(tmp_path, "named", "1.0").read_bytes())
    executor.install(str(stored), Package("named", "1.0"), lambda line: None)
    assert executor.installed_version("named") == "1.0"
    with suffixed(str(stored), ".deb") as named:
        assert named.endswith("/package.deb") and Path(named).read_bytes() == stored.read_bytes()
    assert not Path(named).exists()
    with suffixed(str(stored), ".done") as same:
        assert same == str(stored)
