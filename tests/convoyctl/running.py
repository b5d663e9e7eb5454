"""convoyctl run as a process, the way people and scripts run it: with a home of its own, on pipes or on a
pseudo-terminal, its output read line by line as it comes."""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import select
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.e2e_stack import DEPLOY_TIMEOUT, wait_for

__all__ = ["Done", "Cli", "Lines", "on_terminal", "CLI_TIMEOUT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 60.0


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout:\n{self.stdout}\n--- stderr:\n{self.stderr}"

    def json(self) -> Any:
        assert self.code == 0, self
        return json.loads(self.stdout)


@dataclass
class Cli:
    """`convoyctl` run as a process, with a home (and credentials) of its own."""

    command: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            # The checkout's code, as the venv's convoy-repo.pth provides it after `make`.
            "PYTHONPATH": str(REPO_ROOT),
            **self.env,
        }

    def __call__(self, *argv: str, stdin: str = "", timeout: float = CLI_TIMEOUT) -> Done:
        done = subprocess.run(
            [str(self.command), *argv],
            input=stdin,
            env=self.environment(),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Done(done.returncode, done.stdout, done.stderr)

    def json(self, *argv: str, timeout: float = CLI_TIMEOUT) -> Any:
        return self(*argv, "-o", "json", timeout=timeout).json()

    def start(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.command), *argv],
            env=self.environment(),
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def elsewhere(self, home: Path) -> Cli:
        """The same command for another user account (another home, no saved session)."""
        home.mkdir(parents=True, exist_ok=True)
        return Cli(self.command, home, dict(self.env))

    @property
    def credentials(self) -> Path:
        return self.home / ".config" / "convoy" / "credentials.json"

    def login(self, server: str, username: str, password: str, *extra: str) -> Done:
        argv = ("login", "--server", server, *extra, "--username", username, "--password-stdin")
        return self(*argv, stdin=password + "\n")


class Lines:
    """A process's stdout read on a thread, so a test can wait for a line with a bound."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def close(self) -> None:
        """Once the process has exited: every line it wrote is in `seen`."""
        self._reader.join(CLI_TIMEOUT)
        assert not self._reader.is_alive()
        while (line := self._lines.get_nowait()) is not None:
            self.seen.append(line)

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float = DEPLOY_TIMEOUT) -> re.Match[str]:
        def matched() -> re.Match[str] | None:
            while True:
                try:
                    line = self._lines.get(timeout=0.2)
                except queue.Empty:
                    return None
                if line is None:
                    raise AssertionError(f"the output ended without {pattern!r}: {self.seen}")
                self.seen.append(line)
                found = re.search(pattern, line)
                if found:
                    return found

        result: re.Match[str] = wait_for(matched, timeout=timeout, what=f"a line matching {pattern!r}")
        return result


def on_terminal(cli: Cli, *argv: str, timeout: float = DEPLOY_TIMEOUT) -> tuple[int, str]:
    """Runs convoyctl with a pseudo-terminal as stdout and stderr; (exit code, what it drew)."""
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [str(cli.command), *argv],
        env={**cli.environment(), "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"},
        cwd=cli.home,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    ) as process:
        os.close(terminal)
        drawn = bytearray()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([controller], [], [], 0.5)
                if ready:
                    try:
                        chunk = os.read(controller, 65536)
                    except OSError:  # EIO: the terminal's other side is closed, the process is gone
                        break
                    if not chunk:
                        break
                    drawn += chunk
            code = process.wait(CLI_TIMEOUT)
        finally:
            os.close(controller)
            if process.poll() is None:
                process.kill()
    return code, drawn.decode(errors="replace")
