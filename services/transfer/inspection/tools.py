"""Outside tools (rpm, zstd) run on an uploader's bytes: never through a shell, bounded in time and output."""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

__all__ = ["ToolError", "TooSlow", "TooMuchOutput", "Ran", "run_tool"]

_READ_CHUNK = 64 * 1024
# Enough for the first few complaints, which is all anyone reads; the rest is drained and dropped.
_KEPT_STDERR = 64 * 1024


class ToolError(Exception):
    """The tool was stopped before it finished; each caller says what that means for its format."""


class TooSlow(ToolError):
    """The tool outlived its deadline (it was killed)."""


class TooMuchOutput(ToolError):
    """The tool printed more than it was allowed to (it was killed)."""


@dataclass(frozen=True)
class Ran:
    returncode: int
    stderr: bytes


def run_tool(
    command: Sequence[str],
    out: IO[bytes],
    *,
    timeout: float,
    max_output: int,
    stdin: IO[bytes] | None = None,
    env: Mapping[str, str] | None = None,
) -> Ran:
    """Runs `command` and writes its standard output to `out`. One deadline covers the whole run, the
    reads included: a tool that stalls with its output open is killed as surely as one that never exits.
    More than `max_output` bytes of output also kill it."""
    deadline, too_slow = time.monotonic() + timeout, f"{command[0]} took longer than {timeout:g}s"
    with subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL if stdin is None else stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=None if env is None else dict(env),
    ) as process:
        try:
            output = _Output(out, max_output, str(command[0]))
            if not _drain(process, output, deadline):
                raise TooSlow(too_slow)
            return Ran(process.wait(max(0.0, deadline - time.monotonic())), bytes(output.stderr))
        except subprocess.TimeoutExpired as exc:
            raise TooSlow(too_slow) from exc
        finally:
            if process.poll() is None:
                process.kill()


class _Output:
    """Where the tool's bytes go: standard output to `out` up to the cap, the start of standard error kept."""

    def __init__(self, out: IO[bytes], limit: int, tool: str) -> None:
        self._out, self._limit, self._tool = out, limit, tool
        self._written, self.stderr = 0, bytearray()

    def take_stdout(self, chunk: bytes) -> None:
        self._written += len(chunk)
        if self._written > self._limit:
            raise TooMuchOutput(f"{self._tool} printed more than {self._limit} bytes")
        self._out.write(chunk)

    def take_stderr(self, chunk: bytes) -> None:
        self.stderr += chunk[: _KEPT_STDERR - len(self.stderr)]


def _drain(process: subprocess.Popen[bytes], output: _Output, deadline: float) -> bool:
    """Reads both streams until they close (True) or the deadline passes (False). The deadline is checked
    before every wait, so a tool that never stops printing cannot keep the loop going past it either."""
    assert process.stdout is not None and process.stderr is not None, "both streams are pipes"
    takers = {process.stdout.fileno(): output.take_stdout, process.stderr.fileno(): output.take_stderr}
    with selectors.DefaultSelector() as selector:
        for fd in takers:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            ready = selector.select(remaining) if remaining > 0 else []
            if not ready:
                return False
            for key, _ in ready:
                chunk = os.read(key.fd, _READ_CHUNK)
                if chunk:
                    takers[key.fd](chunk)
                else:
                    selector.unregister(key.fd)
    return True
