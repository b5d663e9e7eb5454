"""Run a PostgreSQL server from a local data directory: the dev stack's database and the tests' throwaway one."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.ports import free_port

__all__ = ["LocalPostgres", "LocalPostgresError", "find_pg_bin", "throwaway_postgres"]

PG_ROOT = Path("/usr/lib/postgresql")
HOST = "127.0.0.1"
# The superuser role initdb creates, and the OS account that runs the server when we are root.
SUPERUSER = "postgres"
SERVER_ACCOUNT = "postgres"
_PROJECT_ROOT = Path(__file__).resolve().parents[1]
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Line 4 of postmaster.pid holds the port (LOCK_FILE_LINE_PORT in PostgreSQL's pidfile.h).
_PIDFILE_PORT_LINE = 3
# A port picked by binding to port 0 can be taken again before the server binds it: pick another and retry.
_START_ATTEMPTS = 3
# Crash safety is worthless for a throwaway server, and without it every commit and checkpoint is cheaper.
_NOT_DURABLE = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
_TOOL_TIMEOUT = 120.0


class LocalPostgresError(RuntimeError):
    """A PostgreSQL program is missing or failed; the message carries what it said."""


def find_pg_bin() -> Path:
    """The PostgreSQL bin directory: $PG_BIN if set, else the newest /usr/lib/postgresql/*/bin with initdb."""
    if configured := os.environ.get("PG_BIN"):
        if (Path(configured) / "initdb").is_file():
            return Path(configured)
        raise LocalPostgresError(f"PG_BIN={configured} has no initdb; point it at a PostgreSQL bin directory")
    candidates = [path for path in PG_ROOT.glob("*/bin") if (path / "initdb").is_file()]
    if not candidates:
        raise LocalPostgresError(
            f"PostgreSQL server programs not found (no initdb under {PG_ROOT}/*/bin): "
            "run `apt-get install postgresql`, or set PG_BIN to the directory holding initdb"
        )
    return max(candidates, key=_version_key)


class LocalPostgres:
    """One PostgreSQL server whose cluster lives in `data_dir`, listening on loopback only."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        socket_dir: Path | None = None,
        log_file: Path | None = None,
        durable: bool = True,
    ) -> None:
        # Absolute paths: the PostgreSQL programs run from "/", see _run_as_server.
        self.data_dir = data_dir.resolve()
        self.socket_dir = (socket_dir or self.data_dir).resolve()
        self.log_file = (log_file or self.data_dir.with_name(f"{self.data_dir.name}.log")).resolve()
        self.durable = durable
        self._requested_port = port
        self._port: int | None = None
        self._bin = find_pg_bin()
        self._as_root = os.geteuid() == 0

    @property
    def port(self) -> int:
        if self._port is None:
            raise LocalPostgresError(f"the server of {self.data_dir} has not been started")
        return self._port

    def start(self) -> None:
        """Create the cluster if needed and start the server; a server already running there is reused."""
        self._prepare_paths()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        running = self._pg_ctl_status() == 0
        if running and self._recorded_pid_serves_us():
            self._port = self._pidfile_port()
            return
        if running:
            # The postmaster would take the stale PID for a live server, as pg_ctl did, and refuse to start.
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self._port = self._launch()

    def stop(self, *, fast: bool = True) -> None:
        """Stop the server if it runs: `fast` shuts down cleanly, otherwise it is killed (for throwaway data)."""
        if not self.is_running():
            return
        mode = "fast" if fast else "immediate"
        self._run_as_server("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60")

    def is_running(self) -> bool:
        """Whether a server from this data directory is up (pg_ctl status, guarded against reused PIDs)."""
        return self._pg_ctl_status() == 0 and self._recorded_pid_serves_us()

    def url(self, database: str = "postgres", *, driver: str = "postgresql+asyncpg") -> str:
        _check_database_name(database)
        return f"{driver}://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def create_database(self, name: str, *, template: str | None = None, exist_ok: bool = False) -> None:
        """CREATE DATABASE, optionally as a copy of `template` (which must have no open connections)."""
        statement = f"CREATE DATABASE {_identifier(name)}"
        if template is not None:
            statement += f" TEMPLATE {_identifier(template)}"
        if exist_ok and self._database_exists(name):
            return
        self._psql(statement)

    def drop_database(self, name: str) -> None:
        # FORCE: a connection a test forgot to close must not keep its database alive.
        self._psql(f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")

    def _prepare_paths(self) -> None:
        socket_dir_existed = self.socket_dir.exists()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        if not self._as_root:
            return
        # A socket directory that existed before may be shared (/tmp, /run/postgresql): leave its owner alone.
        owned = [self.data_dir, self.log_file]
        if not socket_dir_existed:
            owned.append(self.socket_dir)
        for path in owned:
            _give_to_server_account(path)
        for path in (self.data_dir, self.socket_dir, self.log_file):
            _grant_traverse(path)

    def _initdb(self) -> None:
        # Trust authentication is acceptable only because the server listens on loopback and a private socket.
        options = ["-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"]
        if not self.durable:
            options.append("--no-sync")
        self._run_as_server("initdb", *options)

    def _launch(self) -> int:
        attempts = 1 if self._requested_port else _START_ATTEMPTS
        output = ""
        for _ in range(attempts):
            port = self._requested_port or free_port(HOST)
            result = self._run_as_server(
                "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                "-w", "-t", "60", "-o", self._server_options(port), check=False,
            )  # fmt: skip
            if result.returncode == 0:
                return port
            output = result.stdout + result.stderr
        raise LocalPostgresError(f"pg_ctl start failed for {self.data_dir}:\n{output}{self._log_tail()}")

    def _server_options(self, port: int) -> str:
        settings = [f"listen_addresses={HOST}", *(() if self.durable else _NOT_DURABLE)]
        options = ["-p", str(port), "-k", str(self.socket_dir), *(f"-c{setting}" for setting in settings)]
        # pg_ctl hands this string to a shell, so each word is quoted.
        return " ".join(shlex.quote(option) for option in options)

    def _pg_ctl_status(self) -> int:
        return self._run_as_server("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode

    def _pidfile_lines(self) -> list[str]:
        return (self.data_dir / "postmaster.pid").read_text().splitlines()

    def _pidfile_port(self) -> int:
        return int(self._pidfile_lines()[_PIDFILE_PORT_LINE])

    def _recorded_pid_serves_us(self) -> bool:
        """Whether the PID in postmaster.pid is a live postmaster of this data directory.

        pg_ctl only checks that the PID exists. After a crash or a container restart it may be a zombie nobody
        reaped yet, or an unrelated process that got the same number; the postmaster's working directory is its
        data directory, which tells them apart.
        """
        try:
            pid = int(self._pidfile_lines()[0])
        except (OSError, IndexError, ValueError):
            return False
        return not _zombie_or_gone(pid) and not _runs_elsewhere(pid, self.data_dir)

    def _database_exists(self, name: str) -> bool:
        # Safe to inline: _identifier has already checked the name against _DATABASE_NAME.
        return self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"

    def _psql(self, sql: str) -> str:
        command = [
            str(self._bin / "psql"), "-h", HOST, "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres",
            "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql,
        ]  # fmt: skip
        return _run(command).stdout

    def _run_as_server(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self._bin / tool), *args]
        if self._as_root:
            # initdb and pg_ctl refuse to run as root, so they run as the account that owns the cluster.
            command = ["runuser", "-u", SERVER_ACCOUNT, "--", *command]
        # From "/": the server account may not be allowed into the caller's working directory.
        return _run(command, cwd="/", check=check)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "".join(self.log_file.read_text(errors="replace").splitlines(keepends=True)[-lines:])
        except OSError:
            return ""


def _run(
    command: list[str], *, cwd: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    # PG* variables (PGSSLMODE, PGOPTIONS, PGDATA, ...) of the caller's shell must not redirect our tools.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=_TOOL_TIMEOUT
    )
    if check and result.returncode != 0:
        raise LocalPostgresError(
            f"{shlex.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def _zombie_or_gone(pid: int) -> bool:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return Path("/proc/self").exists()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may itself contain ") ".
    return stat_line.rsplit(")", 1)[-1].split()[0] == "Z"


def _runs_elsewhere(pid: int, directory: Path) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) != directory
    except OSError:
        # No procfs, or no right to look: trust pg_ctl, since declaring a live server dead could start a
        # second postmaster on the same data.
        return False


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def _check_database_name(name: str) -> None:
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"invalid database name {name!r}: expected {_DATABASE_NAME.pattern}")


def _identifier(name: str) -> str:
    _check_database_name(name)
    return '"' + name.replace('"', '""') + '"'


def _server_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise LocalPostgresError(f"no {SERVER_ACCOUNT!r} account: run `apt-get install postgresql`") from None


def _give_to_server_account(path: Path) -> None:
    account = _server_account()
    os.chown(path, account.pw_uid, account.pw_gid)


def _grant_traverse(path: Path) -> None:
    """Let the server account walk down to `path` by adding o+x (never o+r) to parents that lack it.

    Only parents under the temp directory or this project are changed; pytest's /tmp/pytest-of-<user> is
    0700, for instance. Elsewhere the caller chose the permissions, so we stop and say what is missing.
    """
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if mode & stat.S_IXOTH:
            continue
        if not _may_loosen(parent):
            raise LocalPostgresError(
                f"the {SERVER_ACCOUNT!r} account cannot enter {parent}: grant it o+x, or put the server's "
                f"files under {tempfile.gettempdir()} or {_PROJECT_ROOT}"
            )
        parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _may_loosen(directory: Path) -> bool:
    temp_root = Path(tempfile.gettempdir()).resolve()
    return directory.is_relative_to(temp_root) or directory.is_relative_to(_PROJECT_ROOT)


@contextmanager
def throwaway_postgres(data_dir: Path) -> Iterator[LocalPostgres]:
    """A server for tests and benchmarks: not durable, and stopped without a shutdown checkpoint's worth of
    care (nothing in it is kept)."""
    server = LocalPostgres(data_dir, durable=False)
    server.start()
    try:
        yield server
    finally:
        server.stop(fast=False)
