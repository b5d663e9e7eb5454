"""The tar executor: safe unpacking, install.sh/uninstall.sh with the package's environment, the record."""

import io
import tarfile
from pathlib import Path

import pytest
from convoy_agent.executors import (
    ContainerExecutor,
    ExecutorError,
    NoRuntimeError,
    Package,
    TarExecutor,
    select_executor,
)
from convoy_agent.executors.tar import unpack

from tests.support.packages import MALICIOUS_CASES, build_malicious_tar, build_tarball
from tests.support.sandbox import build_scripted_tarball, script_log, set_failing


@pytest.fixture
def root(tmp_path: Path) -> Path:
    directory = tmp_path / "tar-root"
    directory.mkdir()
    return directory


@pytest.fixture
def executor(root: Path) -> TarExecutor:
    chosen = select_executor("FORMAT_TAR", sandbox_root=str(root), timeout=60)
    assert isinstance(chosen, TarExecutor)
    return chosen


def test_install_update_rollback_uninstall(tmp_path: Path, root: Path, executor: TarExecutor) -> None:
    v1 = build_scripted_tarball(tmp_path, "webapp", "1.0")
    v2 = build_scripted_tarball(tmp_path, "webapp", "2.0")
    record = root / "var/lib/convoy/tar/webapp"
    lines: list[str] = []

    assert executor.installed_version("webapp") is None
    executor.install(str(v1), Package("webapp", "1.0"), lines.append)
    assert executor.installed_version("webapp") == "1.0"
    assert (root / "opt/webapp/VERSION").read_text() == "1.0\n"
    assert (record / "version").read_text() == "1.0\n"
    assert (record / "1.0" / "uninstall.sh").is_file()
    assert script_log(root, "webapp") == [f"install webapp 1.0 {record / '1.0'}"]

    executor.update(str(v2), Package("webapp", "2.0"), lines.append)
    assert executor.installed_version("webapp") == "2.0"
    assert sorted(path.name for path in record.iterdir()) == ["2.0", "version"]

    executor.downgrade(str(v1), Package("webapp", "1.0"), lines.append)
    assert (root / "opt/webapp/VERSION").read_text() == "1.0\n"
    assert executor.list_installed() == {"webapp": "1.0"}

    executor.remove("webapp", lines.append)
    assert executor.installed_version("webapp") is None
    assert not (root / "opt/webapp").exists()
    assert not record.exists()
    assert script_log(root, "webapp") == [
        f"install webapp 1.0 {record / '1.0'}",
        f"install webapp 2.0 {record / '2.0'}",
        f"install webapp 1.0 {record / '1.0'}",
        f"uninstall webapp 1.0 {record / '1.0'}",
    ]
    executor.remove("webapp", lines.append)
    assert lines[-1] == "webapp is not installed"


def test_failed_install_script_is_rerun_by_recover(tmp_path: Path, root: Path, executor: TarExecutor) -> None:
    package = build_scripted_tarball(tmp_path, "webapp", "3.0")
    set_failing(root, "webapp")
    with pytest.raises(ExecutorError, match="install.sh exited with status 1"):
        executor.install(str(package), Package("webapp", "3.0"), lambda line: None)
    assert executor.installed_version("webapp") is None
    with pytest.raises(ExecutorError, match="could not be finished"):
        executor.recover(lambda line: None)
    set_failing(root, "webapp", False)
    lines: list[str] = []
    executor.recover(lines.append)
    assert "webapp: install.sh of 3.0 was interrupted; running it again" in lines
    assert executor.installed_version("webapp") == "3.0"
    assert (root / "opt/webapp/VERSION").read_text() == "3.0\n"


def test_package_without_uninstall_script_cannot_be_removed(
    tmp_path: Path, root: Path, executor: TarExecutor
) -> None:
    package = build_scripted_tarball(tmp_path, "keeper", "1.0", uninstall=False)
    executor.install(str(package), Package("keeper", "1.0"), lambda line: None)
    with pytest.raises(ExecutorError, match="has no uninstall.sh"):
        executor.remove("keeper", lambda line: None)
    assert executor.installed_version("keeper") == "1.0"


def test_archive_without_install_script_is_refused(tmp_path: Path, root: Path, executor: TarExecutor) -> None:
    package = build_tarball(tmp_path, "empty", "1.0", files={"README": "nothing to run\n"})
    with pytest.raises(ExecutorError, match="no install.sh"):
        executor.install(str(package), Package("empty", "1.0"), lambda line: None)
    assert not (root / "var/lib/convoy/tar/empty/1.0").exists()


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden"])
def test_unsafe_names_are_refused(tmp_path: Path, executor: TarExecutor, name: str) -> None:
    package = build_scripted_tarball(tmp_path, "webapp", "1.0")
    with pytest.raises(ExecutorError, match="cannot name a directory"):
        executor.install(str(package), Package(name, "1.0"), lambda line: None)


ESCAPES = [
    "parent_path",
    "dot_parent_path",
    "inner_parent_path",
    "absolute_path",
    "symlink_to_root",
    "symlink_up",
    "symlink_chain",
    "symlink_redirected_later",
    "hardlink_escape",
    "char_device",
    "fifo",
    "install_script_through_symlink",
]


@pytest.mark.parametrize("case", ESCAPES)
def test_unpack_refuses_what_could_escape(tmp_path: Path, case: str) -> None:
    assert case in MALICIOUS_CASES
    archive = build_malicious_tar(tmp_path, case)
    destination = tmp_path / "out" / "x"
    with pytest.raises(ExecutorError):
        unpack(str(archive), str(destination))
    outside = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert outside == ["x"]


def test_unpack_keeps_links_inside_and_drops_setuid(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in [("bin/tool", b"#!/bin/sh\n", 0o4755), ("lib/libx.so.1", b"x", 0o644)]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("lib/libx.so")
        link.type, link.linkname = tarfile.SYMTYPE, "libx.so.1"
        tar.addfile(link)
    archive = tmp_path / "ok.tar"
    archive.write_bytes(buffer.getvalue())
    unpack(str(archive), str(tmp_path / "out"))
    assert (tmp_path / "out/lib/libx.so").read_bytes() == b"x"
    assert (tmp_path / "out/bin/tool").stat().st_mode & 0o7777 == 0o755


def test_container_without_runtime_is_skipped(tmp_path: Path) -> None:
    executor = select_executor("container", which=lambda name: None)
    assert isinstance(executor, ContainerExecutor)
    with pytest.raises(NoRuntimeError, match="no container runtime"):
        executor.install(str(tmp_path / "image.tar"), Package("web", "1.0"), lambda line: None)
    assert executor.installed_version("web") is None
    assert executor.list_installed() == {}


def test_a_truncated_archive_is_an_executor_error(tmp_path: Path, executor: TarExecutor) -> None:
    whole = build_scripted_tarball(tmp_path, "webapp", "1.0").read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ExecutorError, match="unpack|readable"):
        executor.install(str(truncated), Package("webapp", "1.0"), lambda line: None)
    assert executor.installed_version("webapp") is None


@pytest.mark.parametrize("version", ["version", "pending"])
def test_versions_that_name_the_record_files_are_refused(
    tmp_path: Path, root: Path, executor: TarExecutor, version: str
) -> None:
    executor.install(str(build_scripted_tarball(tmp_path, "webapp", "1.0")), Package("webapp", "1.0"), print)
    package = build_scripted_tarball(tmp_path, "webapp", version)
    with pytest.raises(ExecutorError, match="reserved for the install record"):
        executor.install(str(package), Package("webapp", version), lambda line: None)
    assert executor.installed_version("webapp") == "1.0"
    assert (root / "var/lib/convoy/tar/webapp/version").is_file()


@pytest.mark.parametrize("hook", ["../outside.sh", "/bin/true", "hooks/missing.sh"])
def test_hooks_must_be_scripts_inside_the_artifact(
    tmp_path: Path, root: Path, executor: TarExecutor, hook: str
) -> None:
    package = build_scripted_tarball(tmp_path, "webapp", "1.0")
    with pytest.raises(ExecutorError, match="'..'|absolute|has no hooks/missing.sh"):
        executor.install(
            str(package), Package("webapp", "1.0", profile={"pre_hook": hook}), lambda line: None
        )
    assert executor.installed_version("webapp") is None
