"""`python -m devstack up` brings the stack up, serves a login, stops cleanly on Ctrl-C, and restarts."""

from __future__ import annotations

import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from devstack.ports import free_port
from devstack.postgres import LocalPostgres

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "e2e-Devstack-pw-7361"
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


def login_and_me(url: str, password: str, ca_file: Path | None = None) -> dict[str, object]:
    verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    with httpx.Client(base_url=url, timeout=10.0, verify=verify) as client:
        login = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        body: dict[str, object] = me.json()
        return body


@pytest.mark.timeout(2 * (UP_TIMEOUT + EXIT_TIMEOUT) + 60)
def test_up_login_stop_and_up_again(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    gateway_addr = f"127.0.0.1:{free_port()}"

    with devstack_up(state_dir, gateway_addr, PASSWORD) as (launcher, url):
        assert url == f"http://{gateway_addr}"
        assert PASSWORD in launcher.transcript()
        me = login_and_me(url, PASSWORD)
        assert (me["username"], me["role"]) == ("admin", "admin")
        assert launcher.interrupt() == 0, launcher.transcript()
        assert not postgres_running(state_dir), "PostgreSQL of the state dir still running after Ctrl-C"

    # Second start on the same state: no password in the environment any more, so this also shows that the
    # admin user and its password file survived, and that the launcher reads the password from that file.
    # This time the gateway serves HTTPS with a certificate of the stack's own CA.
    pki = state_dir / "pki"
    https = {
        "CONVOY_GATEWAY_HTTPS_CERT": str(pki / "gateway.pem"),
        "CONVOY_GATEWAY_HTTPS_KEY": str(pki / "gateway-key.pem"),
    }
    with devstack_up(state_dir, gateway_addr, None, **https) as (launcher, url):
        assert url == f"https://{gateway_addr}"
        assert PASSWORD in launcher.transcript()
        assert login_and_me(url, PASSWORD, ca_file=pki / "ca.pem")["username"] == "admin"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=5.0)  # not trusted without our CA
        assert launcher.interrupt() == 0, launcher.transcript()
        assert not postgres_running(state_dir)
