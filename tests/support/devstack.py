"""Runs `python -m devstack up` as a user would, reads its output, and finds the processes it started."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres

__all__ = [
    "REPO_ROOT",
    "UP_TIMEOUT",
    "EXIT_TIMEOUT",
    "Launcher",
    "launcher_env",
    "postgres_running",
    "devstack_up",
    "service_pids",
    "peak_rss_bytes",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
UP_PREFIX = "Convoy is up: "
UP_TIMEOUT = 120.0
EXIT_TIMEOUT = 30.0


class Launcher:
    """A running `python -m devstack up`, with its output read on a thread so the pipe never fills."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        # A session of its own: the cleanup can kill the launcher and its setup commands in one go.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "up"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_until_up(self) -> str:
        deadline = time.monotonic() + UP_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"launcher exited with {self.proc.wait()} before it was up:\n{self.transcript()}")
            self.output.append(line)
            if line.startswith(UP_PREFIX):
                return line.removeprefix(UP_PREFIX).strip()
        pytest.fail(f"no {UP_PREFIX!r} line within {UP_TIMEOUT:.0f} s:\n{self.transcript()}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"launcher still running {EXIT_TIMEOUT:.0f} s after SIGINT:\n{self.transcript()}")

    def transcript(self) -> str:
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.output.append(line)
        return "\n".join(self.output)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def launcher_env(state_dir: Path, gateway_addr: str, password: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVOY_")}
    env.update(CONVOY_STATE_DIR=str(state_dir), CONVOY_GATEWAY_ADDR=gateway_addr, **extra)
    if password is not None:
        env["CONVOY_ADMIN_PASSWORD"] = password
    return env


def postgres_running(state_dir: Path) -> bool:
    return (state_dir / "pg" / "postmaster.pid").exists()


@contextmanager
def devstack_up(
    state_dir: Path, gateway_addr: str, password: str | None, **extra: str
) -> Iterator[tuple[Launcher, str]]:
    launcher = Launcher(launcher_env(state_dir, gateway_addr, password, **extra))
    try:
        yield launcher, launcher.wait_until_up()
    finally:
        launcher.close()
        if postgres_running(state_dir):
            # The launcher died without stopping its PostgreSQL: do not leave a server behind.
            LocalPostgres(state_dir / "pg").stop(fast=True)


def service_pids(launcher: Launcher) -> dict[str, int]:
    """The launcher's service processes by name (auth, gateway …), from /proc."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == launcher.proc.pid and b"-m" in argv:
            module = argv[argv.index(b"-m") + 1].decode()
            found[module.removeprefix("services.")] = int(entry.name)
    return found


def peak_rss_bytes(pid: int) -> int:
    """The most resident memory the process has had (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")
