"""Sandbox roots for the agent's own packages, and the packages themselves, built once per test session.

A package's scripts run `/usr/bin/python3` (to extract the wheels) and, where systemd runs, `systemctl`. So
the roots here hold a copy of this machine's python3 (binary, standard library, the libraries they load)
and of the few programs the scripts call. rpm runs its scriptlets chrooted into the root, and so does dpkg
without --force-script-chrootless: inside, "/" is the root, and a root with `run/systemd/system` and a
`systemctl` of ours that only logs its arguments (`systemd_stub`) shows what the scripts ask of systemd,
without any of it reaching the host.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from convoy_agent.sandbox import RPM_DBPATH, Sandbox, _copy, _libraries, prepare_deb_root

from tests.support.sandbox import prepare_rpm_sandbox
from tools import agent_packages
from tools.agent_wheels import PYTHONS

__all__ = [
    "PYTHON",
    "Built",
    "build_both",
    "chroot",
    "dpkg",
    "enroll_by_hand",
    "files_under",
    "provide_libraries",
    "python_root",
    "rpm",
    "seed_cache",
    "systemctl_calls",
    "systemd_stub",
]

REPO = Path(__file__).resolve().parents[2]
# This machine's python3: what the launcher's #! names, and what the roots get a copy of.
PYTHON = Path("/usr/bin/python3")
TOOL_TIMEOUT = 120.0
CONFIG = "etc/convoy-agent/agent.json"
DEFAULTS = "usr/share/convoy-agent/agent.json"
STATE = "var/lib/convoy-agent"
# What the maintainer scripts and the enroll helper run besides python3 and shell builtins.
PROGRAMS = ("mkdir", "chmod", "rm", "id", "cat", "cp")
_STDLIB_SKIP = shutil.ignore_patterns(
    "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "__pycache__",
    "config-3*", "site-packages", "dist-packages",
)  # fmt: skip


@dataclass(frozen=True)
class Built:
    """The host machine's packages, release 1 and a rebuilt release 2 of the same agent."""

    first: agent_packages.Target
    second: agent_packages.Target
    deb1: Path
    rpm1: Path
    deb2: Path
    rpm2: Path
    cache: Path


def seed_cache(cache: Path) -> None:
    """Copies the complete downloads of the repository's wheel cache (`make agent-packages` fills it) into
    the test's own, so that a session downloads only what that cache lacks."""
    for stamp in agent_packages.DEFAULT_CACHE.glob("*/*/.complete"):
        source = stamp.parent
        target = cache / source.parent.name / source.name
        if not target.exists():
            shutil.copytree(source, target)


def build_both(
    target: agent_packages.Target, out: Path, cache: Path, pythons: tuple[str, ...] = PYTHONS
) -> list[Path]:
    return agent_packages.build(target, ["deb", "rpm"], out, cache, pythons, refresh=False)


def python_root(root: Path, family: str) -> Path:
    """A root that dpkg or rpm can install the agent's package into with its scripts run chrooted."""
    if family == "deb":
        prepare_deb_root(str(root))
    else:
        prepare_rpm_sandbox(root)
    # The devices that a node has and that the agent's libraries open (gRPC seeds from /dev/urandom).
    for name, minor in (("null", 3), ("random", 8), ("urandom", 9)):
        device = root / "dev" / name
        device.parent.mkdir(exist_ok=True)
        if not device.exists():
            os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
            device.chmod(0o666)
    _copy_python(root)
    for name in PROGRAMS:
        program = shutil.which(name, path="/usr/bin:/bin")
        assert program is not None, f"no {name} on this machine"
        _copy_with_libraries(program, root, f"/usr/bin/{name}")
    shell = root / "bin" / "sh"
    if not shell.exists():
        _copy_with_libraries("/bin/sh", root, "/bin/sh")
    return root


def _copy_python(root: Path) -> None:
    executable = os.path.realpath(PYTHON)
    _copy_with_libraries(executable, root, executable)
    link = root / str(PYTHON).lstrip("/")
    if not link.exists():
        link.symlink_to(os.path.basename(executable))
    # The standard library of *that* python3, which need not be the one running the tests.
    stdlib = _stdlib_of(executable)
    shutil.copytree(stdlib, str(root) + stdlib, ignore=_STDLIB_SKIP, dirs_exist_ok=True)
    for module in glob.glob(os.path.join(stdlib, "lib-dynload", "*.so")):
        _copy_libraries(module, root)


def _stdlib_of(executable: str) -> str:
    done = subprocess.run(
        [executable, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=True,
    )
    return done.stdout.strip()


def _copy_with_libraries(program: str, root: Path, at: str) -> None:
    _copy(os.path.realpath(program), str(root) + at)
    _copy_libraries(program, root)


def _copy_libraries(binary: str, root: Path) -> None:
    for library in _libraries(os.path.realpath(binary)):
        if not library.startswith(str(root)):
            _copy(os.path.realpath(library), str(root) + library)


def provide_libraries(root: Path) -> None:
    """The system libraries that the extracted wheels' extension modules load (a real node has them)."""
    for module in glob.glob(f"{root}/usr/lib/convoy-agent/deps/**/*.so*", recursive=True):
        _copy_libraries(module, root)


def systemd_stub(root: Path) -> None:
    """Makes the root look like a system where systemd runs, with a systemctl that logs its arguments."""
    (root / "run" / "systemd" / "system").mkdir(parents=True, exist_ok=True)
    (root / "var" / "log").mkdir(parents=True, exist_ok=True)
    stub = root / "usr" / "bin" / "systemctl"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text('#!/bin/sh\necho "$*" >> /var/log/systemctl.calls\n')
    stub.chmod(0o755)


def systemctl_calls(root: Path) -> list[str]:
    """What the scripts asked of systemctl, in order; the log starts again after each call of this."""
    log = root / "var" / "log" / "systemctl.calls"
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        env={**os.environ, "LC_ALL": "C"},
        **kwargs,  # type: ignore[arg-type]
    )


def dpkg(root: Path, *args: str, chrootless: bool = True) -> subprocess.CompletedProcess[str]:
    """dpkg on the root: its scripts run on this machine with DPKG_ROOT (as the agent's sandbox runs them),
    or, with chrootless off, chrooted into the root. The dependency on python3 is the root's to lack."""
    if chrootless:
        options = Sandbox(str(root)).dpkg_options()
    else:
        options = [f"--root={root}", f"--log={root}/var/log/dpkg.log"]
    return _run(["dpkg", *options, "--force-depends", *args])


def rpm(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """rpm on the root (scriptlets chrooted into it); /usr/bin/python3 there is a file, not a package."""
    return _run(["rpm", "--root", str(root), "--dbpath", RPM_DBPATH, *args])


def chroot(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return _run(["chroot", str(root), *argv])


def files_under(root: Path, *directories: str) -> list[str]:
    """Every file and symlink below the given directories of the root, as paths of the node."""
    found = []
    for directory in directories:
        base = root / directory.lstrip("/")
        for path in base.rglob("*") if base.exists() else ():
            if not path.is_dir() or path.is_symlink():
                found.append("/" + str(path.relative_to(root)))
    return sorted(found)


def enroll_by_hand(root: Path) -> dict:
    """What enrollment leaves: the configuration, started from the package's defaults as the enroll helper
    does, with the node's identity and an operator's tuned setting; the node's key and certificates."""
    config = json.loads((root / DEFAULTS).read_text())
    config.update(
        node_id="node-7",
        server="convoy.example:50058",
        agent_address="convoy.example:50057",
        heartbeat_seconds=30,
    )
    (root / CONFIG).parent.mkdir(parents=True, exist_ok=True)
    (root / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    for name in ("node.pem", "node-key.pem", "ca.pem"):
        (root / STATE / name).write_text(f"{name} of node-7\n")
    return config
