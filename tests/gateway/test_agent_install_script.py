"""The install script on the node (run with sh against stub dpkg/rpm/uname/sudo that record what they are
asked): which package and which installer it picks, when it leaves an installed agent alone, where the
token comes from, and that neither a child reading stdin nor a download cut short can make it run half."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.gateway.agent_install_support import (
    FAKE_PACKAGES,
    asgi_gateway,
    fake_packages,
    pipe_script,
    run_script,
    stub_tools,
)


def served_from(tmp_path: Path) -> Path:
    """Where the `script` fixture's gateway has its packages, for the stub curl to "download" from."""
    return tmp_path / "dist-agent"


@pytest.fixture
async def script(tmp_path: Path) -> str:
    """The script as a gateway with the fake packages serves it."""
    async with asgi_gateway(
        agent_packages_dir=fake_packages(tmp_path), public_url="http://convoy.example:8080"
    ) as client:
        served = await client.get("/api/v1/agent/install.sh")
    assert served.status_code == 200 and served.headers["cache-control"] == "no-store"
    return served.text


def said(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """What --dry-run printed, line by line ("install: dpkg -i FILE")."""
    assert done.returncode == 0, done.stderr
    return dict(line.split(": ", 1) for line in done.stdout.splitlines())


def recorded(tmp_path: Path, suffix: str = "") -> list[str]:
    path = tmp_path / f"calls{suffix}"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize(
    ("family", "machine", "file"),
    [
        ("deb", "amd64", "convoy-agent_0.4.0-1_amd64.deb"),
        ("deb", "arm64", "convoy-agent_0.4.0-1_arm64.deb"),
        ("rpm", "x86_64", "convoy-agent-0.4.0-1.x86_64.rpm"),
        ("rpm", "aarch64", "convoy-agent-0.4.0-1.aarch64.rpm"),
    ],
)
def test_the_script_picks_the_package_of_the_node(
    script: str, tmp_path: Path, family: str, machine: str, file: str
) -> None:
    done = run_script(tmp_path, script, stub_tools(tmp_path / "bin", family=family, machine=machine))
    shown = said(done)
    assert shown["family"] == family
    assert shown["download"] == f"http://convoy.example:8080/api/v1/agent/packages/{file}"
    assert shown["sha256"] == hashlib.sha256(FAKE_PACKAGES[file]).hexdigest()
    assert shown["install"] == ("dpkg -i " if family == "deb" else "rpm -Uvh --replacepkgs ") + file
    # The token is not in what the script prints or passes on the command line.
    assert shown["enroll"] == "convoy-agent-enroll --server enroll.example:50058 --ca-fingerprint sha256:ab"
    assert "cvj_" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("family", "machine", "args", "says"),
    [
        ("deb", "riscv64", None, "no agent package for riscv64 (deb)"),
        ("", "x86_64", None, "neither dpkg nor rpm manages this system"),
        ("rpm", "x86_64", ["--server", "s:1", "--token", "cvj_x"], "--ca-fingerprint is missing"),
        (
            "rpm",
            "x86_64",
            ["--ca-fingerprint", "sha256:ab", "--token", "cvj_x"],
            "--server HOST:PORT is missing",
        ),
        ("rpm", "x86_64", ["--server", "s:1", "--ca-fingerprint", "sha256:ab"], "no join token"),
        ("rpm", "x86_64", ["--server"], "--server needs a value"),
        ("rpm", "x86_64", ["--colour", "red"], "unknown option: --colour"),
    ],
)
def test_the_script_refuses_what_it_cannot_do_with_the_reason(
    script: str, tmp_path: Path, family: str, machine: str, args: list[str] | None, says: str
) -> None:
    tools = stub_tools(tmp_path / "bin", family=family, machine=machine)
    done = run_script(tmp_path, script, tools, args)
    assert done.returncode != 0
    assert says in done.stderr


@pytest.mark.parametrize(
    ("family", "machine", "installer"),
    [("deb", "amd64", "apt-get install -y"), ("rpm", "x86_64", "dnf install -y")],
)
def test_without_python3_in_the_package_database_the_distributions_tool_brings_it(
    script: str, tmp_path: Path, family: str, machine: str, installer: str
) -> None:
    """A python3 binary that no package provides does not satisfy the package's dependency: only the package
    database's word counts."""
    tools = stub_tools(tmp_path / "bin", family=family, machine=machine, python3=False)
    assert said(run_script(tmp_path, script, tools))["install"].startswith(installer + " ")


@pytest.mark.parametrize("family", ["deb", "rpm"])
@pytest.mark.parametrize(("installed", "kept"), [("0.4.0-1", True), ("0.10.0-1", True), ("0.3.9-2", False)])
def test_an_agent_as_new_as_the_gateways_or_newer_is_kept(
    script: str, tmp_path: Path, family: str, installed: str, kept: bool
) -> None:
    """An agent that upgraded itself past this gateway's package stays (rpm -U would refuse the older one
    and stop the script); the node is enrolled all the same."""
    machine = "amd64" if family == "deb" else "x86_64"
    tools = stub_tools(
        tmp_path / "bin",
        family=family,
        machine=machine,
        installed=installed,
        record=tmp_path / "calls",
        served=served_from(tmp_path),
    )
    install = said(run_script(tmp_path, script, tools))["install"]
    assert install.startswith("none (") == kept, install
    done = run_script(tmp_path, script, tools, dry_run=False)
    assert done.returncode == 0, done.stderr
    calls = recorded(tmp_path)
    assert calls[-1].startswith("convoy-agent-enroll ")
    assert len(calls) == (1 if kept else 2)
    if kept:
        assert f"convoy-agent {installed} is installed" in done.stderr


def test_the_token_comes_from_the_environment(script: str, tmp_path: Path) -> None:
    tools = stub_tools(
        tmp_path / "bin",
        family="deb",
        machine="amd64",
        record=tmp_path / "calls",
        served=served_from(tmp_path),
    )
    done = pipe_script(tmp_path, script, tools, "cvj_from_env")
    assert done.returncode == 0, done.stderr
    assert recorded(tmp_path)[-1] == (
        "convoy-agent-enroll --server enroll.example:50058 --ca-fingerprint sha256:ab token=cvj_from_env"
    )
    assert "cvj_from_env" not in "".join(recorded(tmp_path, ".all"))


def test_installer_and_enrollment_never_read_the_piped_script(script: str, tmp_path: Path) -> None:
    """`curl … | sh -s`: the script arrives on stdin, which a prompting child would eat; they get
    /dev/null."""
    tools = stub_tools(
        tmp_path / "bin",
        family="rpm",
        machine="aarch64",
        record=tmp_path / "calls",
        served=served_from(tmp_path),
    )
    done = pipe_script(tmp_path, script, tools, "cvj_x")
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in recorded(tmp_path)] == ["rpm", "convoy-agent-enroll"]
    assert recorded(tmp_path, ".stdin") == ["/dev/null", "/dev/null"]


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_a_script_cut_short_runs_nothing(script: str, tmp_path: Path, fraction: float) -> None:
    """A download that breaks off: the part that arrived does not run, not even the package tools' queries."""
    cut = script.encode()[: int(len(script.encode()) * fraction)].decode(errors="ignore")
    tools = stub_tools(
        tmp_path / "bin",
        family="deb",
        machine="amd64",
        record=tmp_path / "calls",
        served=served_from(tmp_path),
    )
    done = pipe_script(tmp_path, cut, tools, "cvj_x")
    assert recorded(tmp_path, ".all") == [], done.stderr
