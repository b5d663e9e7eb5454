"""The sandbox root: a directory that stands in for "/" so that dpkg, rpm and tar scripts never touch the
host. Tests and the demo agents of `make up` use one; a production agent has none (root "/").

dpkg runs with `--root=R --force-script-chrootless` (maintainer scripts run on the host, with DPKG_ROOT=R,
and must write under it); rpm with `--root R --dbpath /var/lib/rpm` (scriptlets run chrooted into R, so R
needs a /bin/sh with its libraries and a /dev/null); tar scripts get CONVOY_ROOT=R."""

import os
import shutil
import stat
import subprocess
from typing import Callable, List, Optional, Sequence

# Relative to the root, as rpm wants it: the same on every distribution, whatever its default.
RPM_DBPATH = "/var/lib/rpm"


class Sandbox:
    """Where package tools operate: `root` (absolute) or, when None, the real system."""

    def __init__(self, root: Optional[str] = None) -> None:
        self.root = os.path.abspath(root) if root else None

    @property
    def enabled(self) -> bool:
        return self.root is not None

    @property
    def script_root(self) -> str:
        """CONVOY_ROOT for tar scripts: the directory they must treat as "/"."""
        return self.root or "/"

    def path(self, *parts: str) -> str:
        """`parts` (written as absolute paths of the node) inside the root."""
        return os.path.join(self.root or "/", *[part.lstrip("/") for part in parts])

    def dpkg_options(self) -> List[str]:
        if not self.enabled:
            return []
        options = [
            "--root=" + str(self.root),
            "--force-script-chrootless",
            # Without --log dpkg still appends to the host's /var/log/dpkg.log.
            "--log=" + self.path("/var/log/dpkg.log"),
        ]
        if os.geteuid() != 0:
            options.append("--force-not-root")
        return options

    def dpkg_query_options(self) -> List[str]:
        return ["--root=" + str(self.root)] if self.enabled else []

    def rpm_options(self) -> List[str]:
        return ["--root", str(self.root), "--dbpath", RPM_DBPATH] if self.enabled else []

    def __repr__(self) -> str:
        return f"Sandbox({self.root!r})"


def prepare_deb_root(root: str, seed_status_from: Optional[str] = None) -> None:
    """The dpkg database skeleton under `root` (idempotent). `seed_status_from` copies a status file in,
    so that real packages' dependencies on the base system look satisfied."""
    for directory in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "tmp"):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    dpkg = os.path.join(root, "var/lib/dpkg")
    status = os.path.join(dpkg, "status")
    if not os.path.exists(status):
        if seed_status_from:
            shutil.copyfile(seed_status_from, status)
        else:
            open(status, "a").close()
    for name in ("available", "diversions", "statoverride"):
        path = os.path.join(dpkg, name)
        if not os.path.exists(path):
            open(path, "a").close()


def prepare_rpm_root(
    root: str,
    tools: Sequence[str] = ("sh",),
    rpm: str = "rpm",
    log: Optional[Callable[[str], None]] = None,
) -> None:
    """An rpm database under `root` plus what chrooted scriptlets need: `tools` (default /bin/sh) with the
    libraries they load, /dev/null, /tmp and /var/tmp (idempotent; /dev/null needs root)."""
    log = log or (lambda line: None)
    for directory in ("dev", "tmp", "var/tmp", "var/log", RPM_DBPATH.lstrip("/")):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    os.chmod(os.path.join(root, "var/tmp"), 0o1777)
    subprocess.run(
        [rpm, "--root", os.path.abspath(root), "--dbpath", RPM_DBPATH, "--initdb"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=True,
        timeout=60,
    )
    for tool in tools:
        copy_program(root, tool)
    null = os.path.join(root, "dev/null")
    if not os.path.exists(null):
        if os.geteuid() == 0:
            os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.chmod(null, 0o666)
        else:
            log(f"not root: {null} cannot be created, rpm scriptlets will fail")


def copy_program(root: str, name: str) -> None:
    """Copies the host's `name` (resolved on PATH; "sh" lands as /bin/sh) and every library `ldd` lists
    into `root` at the same paths."""
    source = shutil.which(name, path="/bin:/usr/bin:/sbin:/usr/sbin")
    if source is None:
        raise FileNotFoundError(f"no {name} on this host to copy into the sandbox root")
    target = os.path.join(root, "bin", name)
    _copy(os.path.realpath(source), target)
    for library in _libraries(os.path.realpath(source)):
        _copy(os.path.realpath(library), os.path.join(root, library.lstrip("/")))


def _libraries(program: str) -> List[str]:
    result = subprocess.run(
        ["ldd", program],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        timeout=30,
    )
    libraries = []
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        words = line.split()
        if "=>" in words and len(words) > words.index("=>") + 1:
            candidate = words[words.index("=>") + 1]
        elif words:
            candidate = words[0]
        else:
            continue
        if candidate.startswith("/"):
            libraries.append(candidate)
    return libraries


def _copy(source: str, target: str) -> None:
    if os.path.exists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(source, target)
