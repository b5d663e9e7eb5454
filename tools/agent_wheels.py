"""The wheels the agent package ships: agent/requirements.txt resolved by pip for each supported CPython and
machine, downloaded once into a cache (var/agent-wheels) and reused while the requirements stay the same."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["PYTHONS", "WheelError", "collect", "fetch"]

# Every CPython the package brings dependencies for: CentOS 7/8 (3.6) to current Fedora and Debian.
PYTHONS = ("3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
PIP_TIMEOUT = 900.0
_STAMP = ".complete"


class WheelError(Exception):
    """The wheels could not be had; the message says what pip said."""


def requirements_digest(requirements: Path) -> str:
    return hashlib.sha256(requirements.read_bytes()).hexdigest()


def pip_command(
    machine: str, python: str, requirements: Path, target: Path, options: Iterable[str] = ()
) -> list[str]:
    """pip download for another interpreter and machine: binary wheels only, with both names of the
    manylinux2014 platform (glibc 2.17, CentOS 7) so that pip takes wheels tagged either way."""
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python,
        "--platform",
        f"manylinux_2_17_{machine}",
        "--platform",
        f"manylinux2014_{machine}",
        "--dest",
        str(target),
        "--requirement",
        str(requirements),
        *options,
    ]


def fetch(
    machine: str,
    python: str,
    requirements: Path,
    cache: Path,
    *,
    refresh: bool = False,
    pip_options: Iterable[str] = (),
    log: Callable[[str], object] = print,
) -> list[Path]:
    """The wheels of one (machine, Python): from the cache when it holds a complete download for these
    requirements, else downloaded into it."""
    directory = cache / machine / f"cp{python.replace('.', '')}"
    stamp = directory / _STAMP
    digest = requirements_digest(requirements)
    if not refresh and stamp.is_file() and stamp.read_text().strip() == digest:
        return sorted(directory.glob("*.whl"))
    log(f"downloading the agent's wheels for CPython {python} on {machine}")
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    command = pip_command(machine, python, requirements, partial, pip_options)
    try:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=PIP_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise WheelError(
            f"pip download for CPython {python} on {machine} took over {PIP_TIMEOUT:.0f} s"
        ) from None
    if done.returncode != 0:
        said = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise WheelError(f"pip download for CPython {python} on {machine} failed:\n{said}")
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    stamp.write_text(digest + "\n")
    return sorted(directory.glob("*.whl"))


def collect(
    machine: str,
    requirements: Path,
    cache: Path,
    pythons: Iterable[str] = PYTHONS,
    *,
    refresh: bool = False,
    pip_options: Iterable[str] = (),
    log: Callable[[str], object] = print,
) -> tuple[dict[str, list[str]], dict[str, Path]]:
    """(Python version → its wheel file names, file name → the file): a file pip picked for several
    versions (pure Python, abi3) is one file in the package."""
    per_python: dict[str, list[str]] = {}
    files: dict[str, Path] = {}
    for python in pythons:
        wheels = fetch(
            machine, python, requirements, cache, refresh=refresh, pip_options=pip_options, log=log
        )
        if not wheels:
            raise WheelError(f"pip found no wheels for CPython {python} on {machine}")
        per_python[python] = [wheel.name for wheel in wheels]
        for wheel in wheels:
            files.setdefault(wheel.name, wheel)
    return per_python, files
