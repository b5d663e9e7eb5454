"""tools/bootstrap.sh: where apt has no kubectl (most distributions ship it only from the Kubernetes package
repository), `make test` says so in one line and asks neither the package servers nor apt-get install
again on every run. The functions run in bash against stub apt tools."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

BOOTSTRAP = Path(__file__).resolve().parents[2] / "tools" / "bootstrap.sh"
FUNCTIONS = ("say", "install_kubectl", "apt_has_candidate")


def function(name: str) -> str:
    # One line (`say() { ...; }`) or a block that ends with a `}` of its own.
    pattern = rf"^{name}\(\) {{(?: [^\n]*}}\n|\n.*?^}}\n)"
    found = re.search(pattern, BOOTSTRAP.read_text(), re.MULTILINE | re.DOTALL)
    assert found is not None, f"tools/bootstrap.sh has no function {name}"
    return found.group(0)


def run_install_kubectl(tmp_path: Path, *, candidate: str, lists: bool) -> tuple[str, list[str]]:
    """install_kubectl as root with --test, where kubectl is missing; (its output, the apt-get calls)."""
    stubs, state = tmp_path / "bin", tmp_path / "lists"
    stubs.mkdir()
    state.mkdir()
    if lists:
        (state / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4").write_text("")
    calls = tmp_path / "apt-get.calls"
    policy = f"kubectl:\n  Installed: (none)\n  Candidate: {candidate}\n  Version table:\n"
    tools = {
        "id": "echo 0",
        "apt-get": f'echo "apt-get $*" >> {calls}',
        "apt-cache": f"cat <<'POLICY'\n{policy}POLICY",
        "apt-config": f"echo \"lists='{state}/'\"",
    }
    for name, body in tools.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    for program in ("sed", "cat"):
        found = shutil.which(program)
        assert found is not None, program
        (stubs / program).symlink_to(found)
    script = (
        "set -euo pipefail\nfor_tests=1\n"
        + "".join(function(name) for name in FUNCTIONS)
        + "install_kubectl\n"
    )
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, "-c", script], capture_output=True, text=True, timeout=60, env={"PATH": str(stubs)}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, calls.read_text().splitlines() if calls.exists() else []


def test_without_a_candidate_nothing_is_asked_and_one_line_says_so(tmp_path: Path) -> None:
    said, calls = run_install_kubectl(tmp_path, candidate="(none)", lists=True)
    assert calls == []
    assert said.splitlines() == [
        "bootstrap: kubectl is missing and apt cannot install it here: see https://kubernetes.io/docs/tasks/tools/"
    ]


def test_a_fresh_system_fetches_the_lists_once_before_deciding(tmp_path: Path) -> None:
    said, calls = run_install_kubectl(tmp_path, candidate="(none)", lists=False)
    assert calls == ["apt-get update -q"]
    assert len(said.splitlines()) == 1


@pytest.mark.parametrize("lists", [True, False])
def test_a_candidate_is_installed(tmp_path: Path, lists: bool) -> None:
    said, calls = run_install_kubectl(tmp_path, candidate="1.34.1-1.1", lists=lists)
    assert calls[-2:] == ["apt-get update -q", "apt-get install -y -q --no-install-recommends kubectl"]
    assert said.splitlines() == ["bootstrap: installing kubectl"]
