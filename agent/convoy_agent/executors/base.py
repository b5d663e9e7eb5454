"""What every executor offers, and the one way they run commands: with a timeout, output captured line by
line into the task's log (bounded), and a failure carrying the last lines so the operator sees why."""

import abc
import collections
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from convoy_agent.sandbox import Sandbox

LogFn = Callable[[str], None]

# How long one package-manager command may run before it is killed and the task fails.
DEFAULT_TIMEOUT = 1800.0
# Lines kept for an error message, and lines forwarded to the task log per command.
TAIL_LINES = 20
MAX_LOG_LINES = 2000
MAX_LINE_CHARS = 1000
# A PATH that finds the package tools even when the agent was started with a minimal environment.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ExecutorError(Exception):
    """A package operation failed; `lines` are the last lines of the command's output."""

    def __init__(self, message: str, lines: Optional[Sequence[str]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.lines = list(lines or [])

    def __str__(self) -> str:
        if not self.lines:
            return self.message
        return self.message + ": " + " | ".join(self.lines[-5:])


class NoRuntimeError(ExecutorError):
    """The node cannot take this kind of artifact at all (no container runtime): the task is SKIPPED,
    not FAILED."""


class Package:
    """The facts of the artifact an assignment installs (or, for removal, the software it removes)."""

    def __init__(
        self,
        name: str,
        version: str = "",
        release: str = "",
        fmt: str = "",
        arch: str = "",
        profile: Optional[Dict[str, object]] = None,
    ) -> None:
        self.name = name
        self.version = version
        self.release = release
        self.format = fmt
        self.arch = arch
        self.profile = dict(profile or {})

    @property
    def full_version(self) -> str:
        """The version string the package database reports once this artifact is installed:
        deb carries the revision in its version, rpm has a separate release."""
        return full_version(self.version, self.release)

    def __repr__(self) -> str:
        return f"Package({self.name!r}, {self.full_version!r})"


def full_version(version: str, release: str = "") -> str:
    return version + "-" + release if release else version


class CommandResult:
    def __init__(self, returncode: int, tail: List[str]) -> None:
        self.returncode = returncode
        self.tail = tail


class Executor(abc.ABC):
    """One package family. Every method may raise ExecutorError; `log` receives output lines as they come."""

    #: "deb", "rpm", "tar" or "container"
    format = ""

    def __init__(
        self,
        sandbox: Optional[Sandbox] = None,
        which: Optional[Callable[[str], Optional[str]]] = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.sandbox = sandbox or Sandbox(None)
        self.which = which or default_which
        self.timeout = timeout
        # Descriptors every package command inherits: the task runner passes its install lock, so the
        # lock stays held as long as a command runs, even when the agent itself is killed meanwhile.
        self.pass_fds = ()  # type: Sequence[int]

    @abc.abstractmethod
    def installed_version(self, name: str) -> Optional[str]:
        """The version the package database reports as fully installed; None when it is not (or only
        half) installed."""

    def list_installed(self, names: Optional[Sequence[str]] = None) -> Dict[str, str]:
        """name -> version for `names` (or everything the executor manages) that is installed."""
        found = {}
        for name in names or ():
            version = self.installed_version(name)
            if version is not None:
                found[name] = version
        return found

    @abc.abstractmethod
    def install(self, path: str, package: Package, log: LogFn, allow_downgrade: bool = False) -> None:
        """Installs or upgrades to the artifact at `path`; a downgrade only with `allow_downgrade`."""

    def update(self, path: str, package: Package, log: LogFn) -> None:
        self.install(path, package, log)

    def downgrade(self, path: str, package: Package, log: LogFn) -> None:
        self.install(path, package, log, allow_downgrade=True)

    @abc.abstractmethod
    def remove(self, name: str, log: LogFn) -> None:
        """Removes the software; nothing to do when it is not installed."""

    def recover(self, log: LogFn, names: Sequence[str] = ()) -> None:  # noqa: B027 - optional for executors
        """Finishes or rolls forward package work a crash interrupted; raises when the database stays broken.

        `names` are the packages of the interrupted tasks: work that touches one package only (rpm's
        stale duplicate entries) is limited to them; executors without such work ignore them."""

    def run(
        self,
        argv: Sequence[str],
        log: LogFn,
        env: Optional[Dict[str, str]] = None,
        cwd: Optional[str] = None,
        timeout: Optional[float] = None,
        check: bool = True,
    ) -> CommandResult:
        return run_command(
            argv,
            log,
            env=env,
            cwd=cwd,
            timeout=self.timeout if timeout is None else timeout,
            check=check,
            pass_fds=self.pass_fds,
        )


@contextlib.contextmanager
def suffixed(path: str, suffix: str) -> Iterator[str]:
    """`path` under a name ending in `suffix`: apt-get, dnf and yum take a local file for a package name
    unless it ends in .deb / .rpm, and downloads are stored as <sha256>.done."""
    if path.endswith(suffix):
        yield path
        return
    directory = tempfile.mkdtemp(prefix="convoy-")
    link = os.path.join(directory, "package" + suffix)
    try:
        os.symlink(os.path.abspath(path), link)
        yield link
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def default_which(name: str) -> Optional[str]:
    """shutil.which over the system PATH as well as ours: the agent may be started with a bare PATH."""
    import shutil

    path = os.environ.get("PATH", "")
    return shutil.which(name, path=path + os.pathsep + SYSTEM_PATH if path else SYSTEM_PATH)


def command_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment of a package command: ours, a PATH with the sbin dirs, the C locale (the output
    is parsed and logged, never translated), and no interactive front ends."""
    env = dict(os.environ)
    path = env.get("PATH", "")
    env["PATH"] = path + os.pathsep + SYSTEM_PATH if path else SYSTEM_PATH
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    env["DEBIAN_FRONTEND"] = "noninteractive"
    if extra:
        env.update(extra)
    return env


def run_command(
    argv: Sequence[str],
    log: LogFn,
    env: Optional[Dict[str, str]] = None,
    cwd: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    pass_fds: Sequence[int] = (),
) -> CommandResult:
    """Runs `argv` without a shell, stdin closed, stdout and stderr merged and forwarded line by line.

    The command gets its own session, so a timeout kills every process it started (a maintainer script's
    children included). A non-zero exit raises ExecutorError when `check`."""
    argv = [str(part) for part in argv]
    log("$ " + " ".join(argv))
    tail = collections.deque(maxlen=TAIL_LINES)
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=command_env(env),
            cwd=cwd,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    except OSError as error:
        raise ExecutorError(f"cannot run {argv[0]}: {error.strerror or error}") from None
    reader = threading.Thread(target=_forward, args=(process.stdout, log, tail), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        reader.join(5)
        message = f"{argv[0]} did not finish within {timeout:.0f} s and was killed"
        raise ExecutorError(message, list(tail)) from None
    # The pipe stays open while a daemonised grandchild holds it; do not wait for it past the deadline.
    reader.join(max(1.0, min(10.0, deadline - time.monotonic())))
    if returncode != 0 and check:
        raise ExecutorError(f"{os.path.basename(argv[0])} exited with status {returncode}", list(tail))
    return CommandResult(returncode, list(tail))


class Captured:
    """The outcome of a short query: exit status and decoded output."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def capture(argv: Sequence[str], env: Optional[Dict[str, str]] = None, timeout: float = 60.0) -> Captured:
    """A short query whose output is parsed rather than logged (killed after `timeout`)."""
    argv = [str(part) for part in argv]
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=command_env(env),
            start_new_session=True,
        )
    except OSError as error:
        raise ExecutorError(f"cannot run {argv[0]}: {error.strerror or error}") from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise ExecutorError(f"{argv[0]} did not answer within {timeout:.0f} s") from None
    return Captured(process.returncode, _text(stdout), _text(stderr))


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _forward(stream: Any, log: LogFn, tail: Any) -> None:
    forwarded = dropped = 0
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + "…"
        tail.append(line)
        if forwarded < MAX_LOG_LINES:
            forwarded += 1
            _safe_log(log, line)
        else:
            dropped += 1
    stream.close()
    if dropped:
        _safe_log(log, f"({dropped} more lines not shown)")


def _safe_log(log: LogFn, line: str) -> None:
    try:
        log(line)
    except Exception:  # a broken log sink must not kill the command's reader
        pass


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
