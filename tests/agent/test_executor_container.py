"""The container executor against a stand-in `docker` / `podman` (container_stub.py) on a PATH of the test's:
real image archives are loaded, the named container is (re)created with the image and the version label,
and the runtime's failures reach the operator with its last lines."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from convoy_agent.executors import ContainerExecutor, ExecutorError, NoRuntimeError, Package, select_executor
from convoy_agent.executors.container import LABEL_NAME, LABEL_VERSION

from tests.agent.container_stub import DAEMON_DOWN, Runtime, install_stub
from tests.support.packages import build_image_archive

RUNTIMES = ["docker", "podman"]


def which_in(directory: Path) -> Callable[[str], str | None]:
    """Finds only the programs of `directory`: the host's own runtimes stay out of the test."""

    def which(name: str) -> str | None:
        program = directory / name
        return str(program) if program.exists() else None

    return which


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory first on PATH: the executor runs the runtime by name, so the stub must win over the host."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", directory.as_posix() + os.pathsep + os.environ.get("PATH", ""))
    return directory


def executor_with(runtime: str, bin_dir: Path) -> tuple[ContainerExecutor, Runtime]:
    stub = install_stub(bin_dir, runtime)
    chosen = select_executor("container", which=which_in(bin_dir), timeout=60)
    assert isinstance(chosen, ContainerExecutor)
    return chosen, stub


def runs(stub: Runtime) -> list[list[str]]:
    return [argv for argv in stub.calls() if argv[:1] == ["run"]]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("oci", [False, True], ids=["docker-archive", "oci-archive"])
def test_install_update_and_remove_replace_the_named_container(
    tmp_path: Path, bin_dir: Path, runtime: str, oci: bool
) -> None:
    executor, stub = executor_with(runtime, bin_dir)
    first = build_image_archive(tmp_path, "web:1.0", oci=oci)
    second = build_image_archive(tmp_path, "web:2.0", oci=oci, arch="arm64")  # another config: another file
    lines: list[str] = []

    assert executor.runtime() == runtime
    assert executor.installed_version("web") is None
    executor.install(str(first), Package("web", "1.0", "2", "container"), lines.append)

    assert stub.images() == ["web:1.0"]
    (container,) = stub.containers().values()
    assert stub.containers().keys() == {"web"}
    assert container["image"] == "web:1.0" and container["restart"] == "unless-stopped"
    assert container["labels"] == {LABEL_NAME: "web", LABEL_VERSION: "1.0-2"}
    assert ["load", "-i", str(first)] in stub.calls()
    assert ["rm", "-f", "--", "web"] in stub.calls()  # a leftover container of that name goes first
    assert stub.subcommands().index("load") < stub.subcommands().index("rm") < stub.subcommands().index("run")
    assert any(line.startswith("$ " + runtime + " load") for line in lines), lines
    assert executor.installed_version("web") == "1.0-2"
    assert executor.list_installed() == {"web": "1.0-2"}

    executor.update(str(second), Package("web", "2.0", "", "container"), lines.append)

    (replaced,) = stub.containers().values()
    assert replaced["image"] == "web:2.0" and replaced["id"] != container["id"]
    assert replaced["labels"][LABEL_VERSION] == "2.0"
    assert executor.installed_version("web") == "2.0"
    assert [argv[argv.index("--name") + 1] for argv in runs(stub)] == ["web", "web"]

    executor.remove("web", lines.append)

    assert stub.containers() == {}
    assert executor.installed_version("web") is None
    assert executor.list_installed() == {}
    removals = stub.calls().count(["rm", "-f", "--", "web"])
    executor.remove("web", lines.append)  # nothing there: nothing to do
    assert stub.calls().count(["rm", "-f", "--", "web"]) == removals
    assert lines[-1] == "no container web"


def test_the_profile_names_the_container_image_options_and_command(tmp_path: Path, bin_dir: Path) -> None:
    executor, stub = executor_with("docker", bin_dir)
    archive = build_image_archive(tmp_path, "registry.example/web:1.0")
    profile = {
        "container_name": "frontend",
        "image": "registry.example/web:1.0",
        "run_options": ["-p", "8080:80"],
        "command": ["/bin/sh", "-c", "sleep 1000"],
    }

    executor.install(str(archive), Package("web", "1.0", profile=profile), lambda line: None)

    (argv,) = runs(stub)
    assert argv[argv.index("--name") + 1] == "frontend"
    assert argv[-5:] == ["8080:80", "registry.example/web:1.0", "/bin/sh", "-c", "sleep 1000"]
    assert stub.containers()["frontend"]["command"] == ["/bin/sh", "-c", "sleep 1000"]
    assert executor.installed_version("frontend") == "1.0"


def test_podman_is_preferred_when_both_runtimes_are_there(tmp_path: Path, bin_dir: Path) -> None:
    docker = install_stub(bin_dir, "docker")
    executor, podman = executor_with("podman", bin_dir)

    executor.install(str(build_image_archive(tmp_path, "web:1.0")), Package("web", "1.0"), lambda line: None)

    assert executor.runtime() == "podman"
    assert podman.containers().keys() == {"web"}
    assert docker.calls() == []


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_failing_load_is_an_executor_error_with_the_runtime_last_lines(
    tmp_path: Path, bin_dir: Path, runtime: str
) -> None:
    executor, stub = executor_with(runtime, bin_dir)
    stub.failing_load()
    lines: list[str] = []

    with pytest.raises(ExecutorError) as failure:
        executor.install(str(build_image_archive(tmp_path, "web:1.0")), Package("web", "1.0"), lines.append)

    assert not isinstance(failure.value, NoRuntimeError)
    assert f"{runtime} exited with status 125" in failure.value.message
    assert failure.value.lines[-1] == "Error: writing blob: storage quota exceeded"
    assert "storage quota exceeded" in str(failure.value)
    assert "Error: writing blob: storage quota exceeded" in lines
    assert runs(stub) == [] and stub.containers() == {}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_runtime_whose_daemon_is_down_is_a_failure_not_a_missing_runtime(
    tmp_path: Path, bin_dir: Path, runtime: str
) -> None:
    executor, stub = executor_with(runtime, bin_dir)
    stub.daemon_down()

    with pytest.raises(ExecutorError) as install:
        executor.install(
            str(build_image_archive(tmp_path, "web:1.0")), Package("web", "1.0"), lambda line: None
        )
    with pytest.raises(ExecutorError) as remove:
        executor.remove("web", lambda line: None)

    for failure in (install, remove):
        assert not isinstance(failure.value, NoRuntimeError)
        assert failure.value.message == f"{runtime} does not answer"
        assert failure.value.lines == [DAEMON_DOWN[runtime]]
    assert "load" not in stub.subcommands() and "rm" not in stub.subcommands()
    assert executor.installed_version("web") is None


def test_without_a_runtime_the_node_cannot_take_images(tmp_path: Path, bin_dir: Path) -> None:
    executor = select_executor("container", which=which_in(bin_dir))

    with pytest.raises(NoRuntimeError, match="no container runtime"):
        executor.install(
            str(build_image_archive(tmp_path, "web:1.0")), Package("web", "1.0"), lambda line: None
        )
    with pytest.raises(NoRuntimeError):
        executor.remove("web", lambda line: None)
    assert executor.installed_version("web") is None
    assert executor.list_installed() == {}
