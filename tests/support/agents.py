"""Test nodes: a real `convoy_agent` process per network namespace, confined to a sandbox root.

An `AgentHost` is what a node is in the end-to-end tests: a namespace of its own (own address, own link to
cut), a hostname of its own (UTS namespace), a sandbox root holding a dpkg or an rpm database, and a state
directory with the agent's key, certificates, journal and configuration. The agent runs from `agent/` with
only that directory on PYTHONPATH, so it cannot import the services. Package state is checked with the real
tools in the sandbox root, never on the host.

The packages those nodes install (debs with maintainer scripts, rpms with scriptlets, tar packages with
install.sh/uninstall.sh) come from `tests.support.sandbox`, re-exported here; every script logs one line per
run to `<root>/var/log/<name>.scripts` (`script_log`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

# The agent's own sandbox preparation (pytest puts agent/ on the path).
from convoy_agent import sandbox as agent_sandbox

from tests.support.e2e_stack import E2EStack
from tests.support.netns import Namespace
from tests.support.sandbox import (
    AGENT_DIR,
    build_scripted_deb,
    build_scripted_rpm,
    build_scripted_tarball,
    prepare_rpm_sandbox,
    rpm_versions,
    script_log,
)

__all__ = [
    "AGENT_DIR",
    "AgentHost",
    "Family",
    "Fleet",
    "build_scripted_deb",
    "build_scripted_rpm",
    "build_scripted_tarball",
    "prepare_deb_root",
    "prepare_rpm_root",
    "script_log",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
Family = Literal["deb", "rpm"]
ENROLL_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
TOOL_TIMEOUT = 60.0
# Agent settings of a test node, written into its configuration at every start (change `AgentHost.tuning`
# before starting it): a change made by hand in the sandbox root reaches the scheduler within a second or two.
AGENT_TUNING = {"inventory_interval_seconds": 1.5, "package_check_seconds": 0.5}
OS_RELEASE = {
    "deb": 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    "rpm": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3"\n',
}


# --- sandbox roots -----------------------------------------------------------------------------------------


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TOOL_TIMEOUT, **kwargs
    )


def _write_os_release(root: Path, family: Family) -> None:
    """The node's os-release inside its root: what its facts say, whatever the host is."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "os-release").write_text(OS_RELEASE[family])


def prepare_deb_root(root: Path) -> None:
    """An empty dpkg database under `root` (the agent's own preparation), with a Debian-like os-release."""
    agent_sandbox.prepare_deb_root(str(root))
    _write_os_release(root, "deb")


def prepare_rpm_root(root: Path) -> None:
    """An rpm sandbox root (the agent's own preparation, marked for the scriptlets of the test packages)
    with a Rocky-like os-release."""
    prepare_rpm_sandbox(root)
    _write_os_release(root, "rpm")


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
        self.tuning: dict[str, float] = dict(AGENT_TUNING)
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
        self._tune()
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

    def _tune(self) -> None:
        """Writes `tuning` into the configuration (once enroll has written it)."""
        if not self.config_file.exists():
            return
        values = {**self.config, **self.tuning}
        temporary = self.config_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(values, indent=2))
        temporary.replace(self.config_file)

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
        return "\n".join(rpm_versions(self.root, name)) or None

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
