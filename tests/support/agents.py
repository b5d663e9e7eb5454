"""Test nodes: a real `convoy_agent` process per network namespace, confined to a sandbox root.

An `AgentHost` is what a node is in the end-to-end tests: a namespace of its own (own address, own link to
cut), a hostname of its own (UTS namespace), a sandbox root holding a dpkg or an rpm database, and a state
directory with the agent's key, certificates, journal and configuration. The agent runs from `agent/` with
only that directory on PYTHONPATH, so it cannot import the services. Package state is checked with the real
tools in the sandbox root, never on the host.

This module also builds the packages those nodes install: debs with maintainer scripts, rpms with
scriptlets and tar packages with install.sh/uninstall.sh. Every script appends one line per run to
`<root>/var/log/<name>.scripts`, so a test sees that scripts ran, in which order, and that nothing ran twice.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from tests.support.e2e_stack import E2EStack
from tests.support.netns import Namespace

__all__ = [
    "AGENT_DIR",
    "AgentHost",
    "Family",
    "Fleet",
    "build_scripted_deb",
    "build_scripted_rpm",
    "build_scripted_tarball",
    "fail_marker",
    "prepare_deb_root",
    "prepare_rpm_root",
    "script_log",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_DIR = REPO_ROOT / "agent"
Family = Literal["deb", "rpm"]
ENROLL_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
TOOL_TIMEOUT = 60.0
RPM_DBPATH = "/var/lib/rpm"
OS_RELEASE = {
    "deb": 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    "rpm": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3"\n',
}


# --- sandbox roots -----------------------------------------------------------------------------------------


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TOOL_TIMEOUT, **kwargs
    )


def _common_root(root: Path, family: Family) -> None:
    for directory in ("etc", "tmp", "var/log", "var/tmp"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "var/tmp").chmod(0o1777)
    (root / "etc" / "os-release").write_text(OS_RELEASE[family])


def prepare_deb_root(root: Path) -> None:
    """An empty dpkg database under `root` (dpkg --root works on it as on a fresh system)."""
    _common_root(root, "deb")
    dpkg = root / "var" / "lib" / "dpkg"
    for directory in ("info", "updates", "triggers"):
        (dpkg / directory).mkdir(parents=True, exist_ok=True)
    for name in ("status", "available"):
        (dpkg / name).touch()


def _copy_with_libraries(root: Path, program: str, target: str) -> None:
    """`program` at `root/target`, plus every library `ldd` lists at its own path under root."""
    source = os.path.realpath(program)
    destination = root / target.lstrip("/")
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, destination)
    listed = _run(["ldd", source])
    for line in listed.stdout.splitlines():
        words = line.split()
        # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        path = words[2] if len(words) >= 3 and words[1] == "=>" else words[0] if words else ""
        if path.startswith("/"):
            library = root / path.lstrip("/")
            library.parent.mkdir(parents=True, exist_ok=True)
            if not library.exists():
                shutil.copy2(os.path.realpath(path), library)


def prepare_rpm_root(root: Path) -> None:
    """An rpm database under `root` (dbpath /var/lib/rpm) and what chrooted scriptlets need: /bin/sh with
    its libraries and /dev/null."""
    _common_root(root, "rpm")
    (root / RPM_DBPATH.lstrip("/")).mkdir(parents=True, exist_ok=True)
    done = _run(["rpm", "--root", str(root), "--dbpath", RPM_DBPATH, "--initdb"])
    if done.returncode != 0:
        raise RuntimeError(f"rpm --initdb in {root} failed: {done.stdout}{done.stderr}")
    shell = shutil.which("dash") or shutil.which("sh")
    if shell is None:
        raise RuntimeError("no /bin/sh on this host to copy into the rpm root")
    _copy_with_libraries(root, shell, "/bin/sh")
    null = root / "dev" / "null"
    null.parent.mkdir(exist_ok=True)
    if not null.exists():
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        null.chmod(0o666)


def script_log(root: Path, name: str) -> list[str]:
    """The lines the package's scripts appended under `root` (empty when none ran)."""
    path = root / "var" / "log" / f"{name}.scripts"
    return path.read_text().splitlines() if path.exists() else []


# --- agent hosts -------------------------------------------------------------------------------------------


class AgentHost:
    """One node: namespace, sandbox root, state directory and the agent process."""

    def __init__(self, ns: Namespace, workdir: Path, family: Family, hostname: str) -> None:
        self.ns = ns
        self.family: Family = family
        self.hostname = hostname
        self.dir = workdir / hostname
        self.root = self.dir / "root"
        self.state_dir = self.dir / "state"
        self.config_file = self.dir / "agent.json"
        self.log_file = self.dir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.root.mkdir(parents=True, exist_ok=True)
        if family == "deb":
            prepare_deb_root(self.root)
        else:
            prepare_rpm_root(self.root)

    def __repr__(self) -> str:
        return f"AgentHost({self.hostname}, {self.family}, {self.ns.ip})"

    @property
    def ip(self) -> str:
        return self.ns.ip

    # --- processes -----------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "PYTHONPATH": str(AGENT_DIR),
            "LANG": "C.UTF-8",
            "HOME": str(self.dir),
            "PYTHONUNBUFFERED": "1",
        }

    def _argv(self, *args: str) -> list[str]:
        """`python -m convoy_agent args…` with this host's hostname (a UTS namespace of its own)."""
        command = [sys.executable, "-m", "convoy_agent", *args]
        if shutil.which("unshare") is None:
            return command
        return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.hostname, *command]

    def _note(self, text: str) -> None:
        with self.log_file.open("a") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} {text}\n")

    def enroll(
        self,
        token: str,
        server: str,
        ca_fingerprint: str,
        *,
        extra: tuple[str, ...] = (),
        timeout: float = ENROLL_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """`convoy_agent enroll` on this host; the completed process (check returncode yourself)."""
        args = (
            "enroll",
            "--server", server,
            "--token", token,
            "--ca-fingerprint", ca_fingerprint,
            "--state-dir", str(self.state_dir),
            "--config", str(self.config_file),
            "--sandbox-root", str(self.root),
            *extra,
        )  # fmt: skip
        self._note("enroll")
        done = self.ns.run(self._argv(*args), self._env(), timeout=timeout)
        with self.log_file.open("a") as log:
            log.write(f"(exit {done.returncode})\n{done.stdout}{done.stderr}")
        return done

    def enroll_ok(self, token: str, server: str, ca_fingerprint: str, *, extra: tuple[str, ...] = ()) -> str:
        """Enrolls, failing the test with the agent's output when it does not work; the node id."""
        done = self.enroll(token, server, ca_fingerprint, extra=extra)
        assert done.returncode == 0, f"enroll on {self.hostname} failed:\n{done.stdout}{done.stderr}"
        return self.node_id

    @property
    def config(self) -> dict[str, Any]:
        values: dict[str, Any] = json.loads(self.config_file.read_text())
        return values

    @property
    def node_id(self) -> str:
        return str(self.config["node_id"])

    def start(self, log_level: str = "DEBUG") -> subprocess.Popen[bytes]:
        """Starts `convoy_agent run` on this host; its output goes to the host's log file."""
        if self.running:
            raise RuntimeError(f"the agent of {self.hostname} is running already")
        self.starts += 1
        self._note(f"run (start {self.starts})")
        with self.log_file.open("ab") as log:
            self.proc = self.ns.popen(
                self._argv("run", "--config", str(self.config_file), "--log-level", log_level),
                self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self.proc

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL, timeout: float = STOP_TIMEOUT) -> int | None:
        """Sends `sig` to the agent (and anything it started); waits for it to exit; its exit code."""
        if self.proc is None:
            return None
        self.ns.network.kill(self.proc, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.ns.network.kill(self.proc, signal.SIGKILL)
            return self.proc.wait(timeout)

    def stop(self) -> int | None:
        return self.kill(signal.SIGTERM)

    def restart(self, sig: int = signal.SIGTERM) -> subprocess.Popen[bytes]:
        self.kill(sig)
        return self.start()

    def approve(self, task: str = "", timeout: float = TOOL_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """`convoy_agent approve [TASK]` on this host, as an operator on the node runs it: without a task it
        lists the waiting ones (one per line, the task id first). Check returncode yourself."""
        args = ("approve", *((task,) if task else ()), "--config", str(self.config_file))
        self._note(" ".join(args[:2]))
        done = self.ns.run(self._argv(*args), self._env(), timeout=timeout)
        with self.log_file.open("a") as log:
            log.write(f"(exit {done.returncode})\n{done.stdout}{done.stderr}")
        return done

    def log_tail(self, lines: int = 80) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return f"--- last lines of {self.log_file} ({self}) ---\n" + "\n".join(text.splitlines()[-lines:])

    # --- package state in the sandbox root ------------------------------------------------------------

    def dpkg_query(self, name: str) -> tuple[str, str] | None:
        """(version, status abbreviation such as "ii ") of `name` in the root's dpkg database, or None."""
        done = _run(["dpkg-query", f"--root={self.root}", "-W", "-f=${Version}\t${db:Status-Abbrev}\n", name])
        if done.returncode != 0 or not done.stdout.strip():
            return None
        version, _, status = done.stdout.splitlines()[0].partition("\t")
        return version, status

    def rpm_query(self, name: str) -> str | None:
        """VERSION-RELEASE of `name` in the root's rpm database, or None."""
        done = _run(
            [
                "rpm",
                "--root",
                str(self.root),
                "--dbpath",
                RPM_DBPATH,
                "-q",
                "--qf",
                "%{VERSION}-%{RELEASE}\n",
                name,
            ]
        )
        if done.returncode != 0:
            return None
        return done.stdout.strip() or None

    def installed_version(self, name: str) -> str | None:
        """The version the root's package database has fully installed (dpkg "ii" / rpm present), or None."""
        if self.family == "rpm":
            return self.rpm_query(name)
        found = self.dpkg_query(name)
        if found is None or not found[1].startswith("ii"):
            return None
        return found[0]

    def script_log(self, name: str) -> list[str]:
        return script_log(self.root, name)


@dataclass
class Fleet:
    """Three enrolled, connected agents in one group: two on deb roots, one on an rpm root."""

    stack: E2EStack
    client: httpx.Client
    group_id: str
    debs: list[AgentHost]
    rpm: AgentHost
    workdir: Path

    @property
    def hosts(self) -> list[AgentHost]:
        return [*self.debs, self.rpm]

    def host(self, server_id: str) -> AgentHost:
        return next(host for host in self.hosts if host.node_id == server_id)


# --- packages with scripts ---------------------------------------------------------------------------------

_GUARD_DEB = """\
#!/bin/sh
set -e
# dpkg runs this on the host (--force-script-chrootless): never write outside DPKG_ROOT.
[ -n "$DPKG_ROOT" ] && [ "$DPKG_ROOT" != "/" ] || {{ echo "DPKG_ROOT is not set: refusing" >&2; exit 1; }}
echo "{script} $1 {version}" >> "$DPKG_ROOT/var/log/{name}.scripts"
"""


def _workdir(tmp_path: Path, prefix: str) -> Path:
    directory = tmp_path / f"{prefix}-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    return directory


def fail_marker(root: Path, name: str) -> Path:
    """While this file exists in a root, the postinst of a deb built with `fail_when_marked` fails there."""
    return root / "etc" / f"{name}.fail"


def build_scripted_deb(
    tmp_path: Path,
    name: str,
    version: str,
    *,
    fail_postinst: bool = False,
    fail_when_marked: bool = False,
    payload_bytes: int = 0,
) -> Path:
    """A real .deb (dpkg-deb) with preinst/postinst/prerm/postrm that log to $DPKG_ROOT/var/log/<name>.scripts
    and a file /usr/share/<name>/VERSION. With `fail_postinst` its postinst exits 1 after logging; with
    `fail_when_marked` it does so on the nodes whose root holds `fail_marker(root, name)`."""
    work = _workdir(tmp_path, "deb")
    root = work / "root"
    debian = root / "DEBIAN"
    debian.mkdir(parents=True)
    (debian / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Convoy Tests <tests@example.com>\n"
        "Description: A package with maintainer scripts\n Built by the end-to-end tests.\n"
    )
    for script in ("preinst", "postinst", "prerm", "postrm"):
        text = _GUARD_DEB.format(script=script, version=version, name=name)
        if script == "postinst" and fail_postinst:
            text += 'echo "postinst fails on purpose" >&2\nexit 1\n'
        elif script == "postinst" and fail_when_marked:
            text += f'if [ -e "$DPKG_ROOT/etc/{name}.fail" ]; then echo "postinst fails: marker" >&2; exit 1; fi\n'
        path = debian / script
        path.write_text(text)
        path.chmod(0o755)
    share = root / "usr" / "share" / name
    share.mkdir(parents=True)
    (share / "VERSION").write_text(f"{version}\n")
    if payload_bytes:
        with (share / "payload.bin").open("wb") as handle:
            left = payload_bytes
            while left:
                block = os.urandom(min(left, 1024 * 1024))
                handle.write(block)
                left -= len(block)
    out = work / f"{name}_{version}_all.deb"
    compression = "-Znone" if payload_bytes else "-Zxz"
    done = _run(["dpkg-deb", compression, "--root-owner-group", "--build", str(root), str(out)])
    if done.returncode != 0:
        raise RuntimeError(f"dpkg-deb failed: {done.stdout}{done.stderr}")
    return out


def build_scripted_rpm(
    tmp_path: Path, name: str, version: str, release: str = "1", *, fail_post: bool = False
) -> Path:
    """A real noarch rpm (rpmbuild) whose %pre/%post/%preun/%postun log to /var/log/<name>.scripts inside the
    root they run chrooted in (shell builtins only: the root has nothing but /bin/sh)."""
    work = _workdir(tmp_path, "rpm")
    log = f"/var/log/{name}.scripts"

    def scriptlet(tag: str) -> str:
        body = f'%{tag}\necho "{tag} $1 {version}-{release}" >> {log}\n'
        if tag == "post" and fail_post:
            body += "exit 1\n"
        return body

    spec = work / f"{name}.spec"
    spec.write_text(
        textwrap.dedent(
            f"""\
            Name: {name}
            Version: {version}
            Release: {release}
            Summary: A package with scriptlets
            License: MIT
            BuildArch: noarch
            AutoReqProv: no

            %description
            Built by the end-to-end tests.

            %install
            mkdir -p %{{buildroot}}/opt/{name}
            echo {version}-{release} > %{{buildroot}}/opt/{name}/VERSION

            %files
            /opt/{name}/VERSION

            """
        )
        + "\n".join(scriptlet(tag) for tag in ("pre", "post", "preun", "postun"))
    )
    top = work / "rpmbuild"
    done = _run(
        ["rpmbuild", "--define", f"_topdir {top}", "--define", "_build_id_links none", "-bb", str(spec)]
    )
    if done.returncode != 0:
        raise RuntimeError(f"rpmbuild failed: {done.stdout}{done.stderr}")
    (built,) = (top / "RPMS").rglob("*.rpm")
    return built


def build_scripted_tarball(tmp_path: Path, name: str, version: str) -> Path:
    """A tar package: convoy.json, install.sh (writes $CONVOY_ROOT/opt/<name>/VERSION) and uninstall.sh;
    both refuse to run without a CONVOY_ROOT other than "/" and log like the deb scripts."""
    guard = (
        '[ -n "$CONVOY_ROOT" ] && [ "$CONVOY_ROOT" != "/" ] || '
        '{ echo "CONVOY_ROOT is not set: refusing" >&2; exit 1; }\n'
    )
    log = f'"$CONVOY_ROOT/var/log/{name}.scripts"'
    install = (
        "#!/bin/sh\nset -e\n" + guard
        + f'mkdir -p "$CONVOY_ROOT/opt/{name}" "$CONVOY_ROOT/var/log"\n'
        + f'echo "$CONVOY_PACKAGE_VERSION" > "$CONVOY_ROOT/opt/{name}/VERSION"\n'
        + f'echo "install $CONVOY_PACKAGE_NAME $CONVOY_PACKAGE_VERSION" >> {log}\n'
    )  # fmt: skip
    uninstall = (
        "#!/bin/sh\nset -e\n" + guard
        + f'rm -rf "$CONVOY_ROOT/opt/{name}"\n'
        + f'echo "uninstall $CONVOY_PACKAGE_NAME $CONVOY_PACKAGE_VERSION" >> {log}\n'
    )  # fmt: skip
    members = {
        "convoy.json": json.dumps({"name": name, "version": version, "description": "A tar package"}),
        "install.sh": install,
        "uninstall.sh": uninstall,
    }
    out = _workdir(tmp_path, "tar") / f"{name}-{version}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for path, content in members.items():
            data = content.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755 if path.endswith(".sh") else 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return out
