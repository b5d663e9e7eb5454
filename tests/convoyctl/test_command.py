"""The `convoyctl` command as installed: the script pyproject.toml declares, written for this Python, runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from convoyctl import __version__
from tools.console_scripts import entry_points, write_scripts

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_declared_command_runs(tmp_path: Path) -> None:
    assert entry_points() == {"convoyctl": "convoyctl.__main__:main"}
    written = write_scripts(tmp_path, sys.executable)
    assert written == [tmp_path / "convoyctl"]
    assert os.access(written[0], os.X_OK)
    assert write_scripts(tmp_path, sys.executable) == [], "an unchanged script is left alone"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [str(written[0]), "--version"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, f"convoyctl {__version__}\n"), done.stderr
    module = subprocess.run(
        [sys.executable, "-m", "convoyctl", "whoami"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert module.returncode == 2 and "no server" in module.stderr


def test_the_command_needs_none_of_the_services(tmp_path: Path) -> None:
    """`pip install .` ships convoyctl alone: it must not import the services or generated protos."""
    probe = (
        "import sys, convoyctl.cli, convoyctl.watch; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'services', 'convoy', 'grpc', 'fastapi', 'tests'}))"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr
