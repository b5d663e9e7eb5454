"""One-machine dev stack: a local PostgreSQL, PKI, migrations and every service as a child process."""

from __future__ import annotations

import ctypes
import enum
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from devstack.agents import DemoAgentError, DemoAgents, demo_agent_count
from devstack.ports import free_port
from devstack.postgres import LocalPostgres, LocalPostgresError
from services.kit.pki import write_pki_dir

__all__ = [
    "ADMIN_USERNAME",
    "LOOPBACK",
    "PKI_NAMES",
    "SERVICES",
    "LaunchError",
    "PortKind",
    "Service",
    "StateDir",
    "listeners",
    "prepare",
    "run_step",
    "service_env",
    "up",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
DATABASE = "convoy"
ADMIN_USERNAME = "admin"
DEFAULT_GATEWAY_ADDR = "127.0.0.1:8080"
LOOPBACK = "127.0.0.1"
# Every certificate the stack will ever need, so adding a service later does not rotate the CA.
PKI_NAMES = ("auth", "gateway", "inventory", "catalog", "scheduler", "transfer")
READY_TIMEOUT = 60.0
SETUP_TIMEOUT = 120.0
# Keeps large streamed messages out of the malloc heaps (see Stack._service_env).
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=262144"
STOP_GRACE = 15.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class PortKind(enum.Enum):
    """Who dials a port, which decides the host it binds (see service_env)."""

    # The gateway, the other services, a metrics scraper: always on this machine.
    SERVICE = "service"
    # Agents: the demo agents of `make up` dial loopback; those of the end-to-end tests live in network
    # namespaces and dial the bridge address.
    NODE = "node"


@dataclass(frozen=True)
class Service:
    """One service process: `python -m <module> serve`, after `python -m <module> migrate` if it migrates."""

    name: str
    module: str
    # Variables that get a free host:port when the stack starts, by who dials them.
    ports: Mapping[str, PortKind] = field(default_factory=dict)
    # Variables that point at another service: variable -> the variable holding that service's address.
    targets: Mapping[str, str] = field(default_factory=dict)
    migrates: bool = False


# Start order: a service may only point at services above it. The gateway listens on CONVOY_GATEWAY_ADDR.
SERVICES: tuple[Service, ...] = (
    Service(
        "auth",
        "services.auth",
        ports={
            "CONVOY_AUTH_LISTEN": PortKind.SERVICE,
            "CONVOY_AUTH_METRICS_LISTEN": PortKind.SERVICE,
        },
        migrates=True,
    ),
    Service(
        "inventory",
        "services.inventory",
        ports={
            "CONVOY_INVENTORY_LISTEN": PortKind.SERVICE,
            "CONVOY_INVENTORY_METRICS_LISTEN": PortKind.SERVICE,
        },
        targets={"CONVOY_INVENTORY_AUTH_TARGET": "CONVOY_AUTH_LISTEN"},
        migrates=True,
    ),
    Service(
        "transfer",
        "services.transfer",
        ports={
            # Services and agents alike download from it.
            "CONVOY_TRANSFER_LISTEN": PortKind.NODE,
            "CONVOY_TRANSFER_METRICS_LISTEN": PortKind.SERVICE,
        },
        targets={"CONVOY_TRANSFER_AUTH_TARGET": "CONVOY_AUTH_LISTEN"},
        migrates=True,
    ),
    Service(
        "catalog",
        "services.catalog",
        ports={
            "CONVOY_CATALOG_LISTEN": PortKind.SERVICE,
            "CONVOY_CATALOG_METRICS_LISTEN": PortKind.SERVICE,
        },
        targets={
            "CONVOY_CATALOG_AUTH_TARGET": "CONVOY_AUTH_LISTEN",
            "CONVOY_CATALOG_TRANSFER_TARGET": "CONVOY_TRANSFER_LISTEN",
        },
        migrates=True,
    ),
    Service(
        "scheduler",
        "services.scheduler",
        ports={
            "CONVOY_SCHEDULER_LISTEN": PortKind.SERVICE,
            "CONVOY_SCHEDULER_AGENT_LISTEN": PortKind.NODE,
            "CONVOY_SCHEDULER_ENROLL_LISTEN": PortKind.NODE,
            "CONVOY_SCHEDULER_METRICS_LISTEN": PortKind.SERVICE,
        },
        targets={
            "CONVOY_SCHEDULER_AUTH_TARGET": "CONVOY_AUTH_LISTEN",
            "CONVOY_SCHEDULER_INVENTORY_TARGET": "CONVOY_INVENTORY_LISTEN",
            "CONVOY_SCHEDULER_CATALOG_TARGET": "CONVOY_CATALOG_LISTEN",
            "CONVOY_SCHEDULER_TRANSFER_TARGET": "CONVOY_TRANSFER_LISTEN",
        },
        migrates=True,
    ),
    Service(
        "gateway",
        "services.gateway",
        ports={"CONVOY_GATEWAY_METRICS_LISTEN": PortKind.SERVICE},
        targets={
            "CONVOY_GATEWAY_AUTH_TARGET": "CONVOY_AUTH_LISTEN",
            "CONVOY_GATEWAY_INVENTORY_TARGET": "CONVOY_INVENTORY_LISTEN",
            "CONVOY_GATEWAY_CATALOG_TARGET": "CONVOY_CATALOG_LISTEN",
            "CONVOY_GATEWAY_TRANSFER_TARGET": "CONVOY_TRANSFER_LISTEN",
            "CONVOY_GATEWAY_SCHEDULER_TARGET": "CONVOY_SCHEDULER_LISTEN",
            # The address printed in join commands.
            "CONVOY_GATEWAY_AGENT_ENROLL_ADDRESS": "CONVOY_SCHEDULER_ENROLL_LISTEN",
        },
    ),
)


class LaunchError(Exception):
    """The stack could not be brought up, or a service died; the message tells the user why."""


class Stopped(BaseException):
    """SIGINT or SIGTERM arrived; a BaseException so that no `except Exception` swallows it."""


@dataclass(frozen=True)
class StateDir:
    """Where the stack keeps what survives a restart: database, PKI, keys, logs, admin password."""

    root: Path
    pg: Path
    logs: Path
    pki: Path
    jwt_key: Path
    admin_password: Path
    artifacts: Path
    agents: Path

    @classmethod
    def from_env(cls) -> StateDir:
        return cls.at(Path(os.environ.get("CONVOY_STATE_DIR", "var")).resolve())

    @classmethod
    def at(cls, root: Path) -> StateDir:
        keys, logs = root / "keys", root / "log"
        return cls(
            root,
            root / "pg",
            logs,
            root / "pki",
            keys / "jwt-ed25519.pem",
            root / "admin-password",
            root / "artifacts",
            root / "agents",
        )

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def create(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.jwt_key.parent.mkdir(mode=0o700, exist_ok=True)


def service_env(
    state: StateDir,
    database_url: str,
    gateway_addr: str,
    *,
    hosts: Mapping[PortKind, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment every service process of a stack shares (each reads its own prefix), so that the
    launcher and the end-to-end tests wire the services the same way: paths from the state directory, a
    free port for each listener in SERVICES on the host of its kind (`hosts`, loopback for a kind not in
    it), and each target pointing at the listener it names. `base` (default: this process's environment)
    is what the services inherit besides."""
    env = dict(os.environ if base is None else base)
    env.update(
        CONVOY_ENV="dev",
        CONVOY_DATABASE_URL=database_url,
        CONVOY_PKI_DIR=str(state.pki),
        CONVOY_AUTH_JWT_KEY_FILE=str(state.jwt_key),
        CONVOY_TRANSFER_STORAGE_ROOT=str(state.artifacts),
        CONVOY_GATEWAY_ADDR=gateway_addr,
        # The services import `convoy.*` from gen/, whichever interpreter and directory they start from.
        PYTHONPATH=_pythonpath(env.get("PYTHONPATH")),
    )
    # Packages stream through gateway and transfer in 1 MiB messages. glibc raises its mmap threshold
    # after the first such buffer is freed and serves the next ones from per-thread heaps, where they
    # fragment and the process keeps tens of MiB it no longer uses; a fixed threshold returns each
    # buffer on free. An operator's own GLIBC_TUNABLES wins.
    env.setdefault("GLIBC_TUNABLES", MALLOC_TUNABLES)
    for svc in SERVICES:
        env.update(listeners(svc, hosts))
    for svc in SERVICES:
        env.update({var: env[source] for var, source in svc.targets.items()})
    return env


def listeners(svc: Service, hosts: Mapping[PortKind, str] | None = None) -> dict[str, str]:
    """A free host:port for each port of the service, on the host of its kind (`hosts`, loopback for a
    kind not in it)."""
    found: dict[str, str] = {}
    for var, kind in svc.ports.items():
        host = (hosts or {}).get(kind, LOOPBACK)
        found[var] = f"{host}:{free_port(host)}"
    return found


def prepare(env: Mapping[str, str], state: StateDir, say: Callable[[str], object] = print) -> None:
    """What must exist before any service starts: the JWT signing key, every service's schema and the
    admin user. Each step leaves what is already there alone, so every start runs them all; `say` hears
    what is being done."""
    say("preparing the JWT signing key…")
    run_step(env, state, _service("auth"), "jwt-key", str(state.jwt_key))
    for svc in SERVICES:
        if svc.migrates:
            say(f"migrating {svc.name}…")
            run_step(env, state, svc, "migrate")
    say("creating the admin user…")
    args = ("create-admin", "--username", ADMIN_USERNAME, "--password-file", str(state.admin_password))
    out = run_step(env, state, _service("auth"), *args)
    lines = out.strip().splitlines()
    try:
        created = bool(json.loads(lines[-1]).get("created"))
    except (IndexError, ValueError, AttributeError) as exc:
        raise LaunchError(f"create-admin printed no JSON result: {out!r}") from exc
    say(f"  {ADMIN_USERNAME}: {'created' if created else 'already exists'}")


def run_step(env: Mapping[str, str], state: StateDir, svc: Service, *args: str) -> str:
    """Runs a one-shot command of a service (jwt-key, migrate, create-admin), keeping its output in the
    service's log; its standard output."""
    command = f"python -m {svc.module} {' '.join(args)}"
    try:
        done = subprocess.run(
            [sys.executable, "-m", svc.module, *args], env=dict(env), cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=SETUP_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise LaunchError(f"`{command}` did not finish within {SETUP_TIMEOUT:.0f} s") from exc
    with state.log(svc.name).open("a") as log:
        log.write(f"--- {_timestamp()} {command} (exit {done.returncode})\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise LaunchError(f"`{command}` failed with exit code {done.returncode}:\n{output}")
    return done.stdout


class Stack:
    """The processes of one `devstack up`, and what it takes to stop them again."""

    def __init__(self, state: StateDir, gateway_addr: str) -> None:
        self.state = state
        self.gateway_addr = gateway_addr
        # The gateway serves HTTPS when given both (CONVOY_GATEWAY_TLS_* is its gRPC client certificate).
        https = os.environ.get("CONVOY_GATEWAY_HTTPS_CERT") and os.environ.get("CONVOY_GATEWAY_HTTPS_KEY")
        scheme = "https" if https else "http"
        self.url = f"{scheme}://{gateway_addr}"
        self.env: dict[str, str] = {}
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        # Where each service's log of this run starts: the logs are appended to across runs.
        self.log_starts: dict[str, int] = {}
        self.pg: LocalPostgres | None = None
        self.owns_pg = False
        # What the gateway's readiness check said about each service behind it.
        self.health: dict[str, str] = {}

    def bring_up(self) -> None:
        _require_free(self.gateway_addr)
        self.state.create()
        pg = self._start_postgres()
        print("writing PKI…")
        write_pki_dir(self.state.pki, PKI_NAMES)
        self.env = service_env(self.state, pg.url(DATABASE), self.gateway_addr)
        prepare(self.env, self.state)
        for svc in SERVICES:
            print(f"starting {svc.name}…")
            self._spawn(svc)
        print(f"waiting for the gateway at {self.url}…")
        self._wait_ready()
        self._start_demo_agents()

    def _start_demo_agents(self) -> None:
        """Demo nodes on this machine, each confined to a sandbox root: enrolled with join tokens into the
        group "demo" on their first start, reconnected on later ones."""
        agents = DemoAgents(
            self.state.agents,
            self.state.logs,
            url=self.url,
            password=_admin_password(self.state) or "",
            enroll_address=self.env["CONVOY_SCHEDULER_ENROLL_LISTEN"],
            agent_port=self.env["CONVOY_SCHEDULER_AGENT_LISTEN"].rpartition(":")[2],
            node_ca=self.state.pki / "node-ca.pem",
        )
        try:
            for name, command in agents.prepare(demo_agent_count()):
                self._spawn_command(f"agent-{name}", command, agents.env)
        except DemoAgentError as exc:
            raise LaunchError(str(exc)) from exc

    def _start_postgres(self) -> LocalPostgres:
        try:
            self.pg = pg = LocalPostgres(self.state.pg, log_file=self.state.log("postgres"), durable=True)
            # Only a server this launcher started is stopped on exit; one that was already running stays up.
            self.owns_pg = not pg.is_running()
            print(
                "starting PostgreSQL…" if self.owns_pg else f"using the PostgreSQL running in {pg.data_dir}"
            )
            pg.start()
            pg.create_database(DATABASE, exist_ok=True)
        except LocalPostgresError as exc:
            raise LaunchError(str(exc)) from exc
        return pg

    def _spawn(self, svc: Service) -> None:
        self._spawn_command(svc.name, [sys.executable, "-m", svc.module, "serve"], self.env)

    def _spawn_command(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with self.state.log(name).open("ab") as log:
            log.write(f"--- {_timestamp()} {' '.join(command[1:])}\n".encode())
            log.flush()
            self.log_starts[name] = log.tell()
            self.children[name] = subprocess.Popen(
                command, env=env, cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                # Own process group: a Ctrl-C in the terminal reaches only the launcher, which then stops
                # the services itself, with a grace period, before it stops PostgreSQL under them.
                process_group=0, preexec_fn=_die_with_parent,
            )  # fmt: skip

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        # Only asks a local port whether the process is ready; the certificate's identity is not at stake.
        with httpx.Client(timeout=2.0, verify=False) as client:
            while time.monotonic() < deadline:
                self.check_children()
                checks = _readiness(client, f"{self.url}/readyz")
                if checks is not None:
                    self.health = checks
                    return
                time.sleep(0.5)
        raise LaunchError(
            f"the gateway did not become ready within {READY_TIMEOUT:.0f} s; {self._log_tail('gateway')}"
        )

    def check_children(self) -> None:
        for name, proc in self.children.items():
            code = proc.poll()
            if code is not None:
                raise LaunchError(f"{name} exited with code {code}; {self._log_tail(name)}")

    def _log_tail(self, name: str, lines: int = 40) -> str:
        path = self.state.log(name)
        try:
            with path.open("rb") as log:
                log.seek(self.log_starts.get(name, 0))
                text = log.read().decode(errors="replace")
        except FileNotFoundError:
            text = ""
        return f"last lines of {path}:\n" + "\n".join(text.splitlines()[-lines:])

    def announce(self) -> None:
        password = _admin_password(self.state)
        print()
        print(f"  URL       {self.url}")
        print(f"  admin     {ADMIN_USERNAME}")
        print(f"  password  {password or '(unknown: set CONVOY_ADMIN_PASSWORD to reset it)'}")
        healthy = [name for name in self.children if name == "gateway" or self.health.get(name) == "ok"]
        agents = [name.removeprefix("agent-") for name in self.children if name.startswith("agent-")]
        print(f"  healthy   {', '.join(healthy)}")
        if agents:
            print(f"  agents    {', '.join(agents)} (sandbox roots in {self.state.agents}, group 'demo')")
        print(f"  logs      {self.state.logs}")
        print("  Ctrl-C stops everything.")
        print(f"Convoy is up: {self.url}", flush=True)

    def watch(self) -> None:
        """Waits for a signal; returns never, raises if a service dies in the meantime."""
        while True:
            self.check_children()
            time.sleep(1.0)

    def shut_down(self) -> None:
        # A second Ctrl-C must not cut the cleanup short: it is bounded anyway.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        if not self.children and not self.owns_pg:
            return
        self._stop_children()
        if self.pg is not None and self.owns_pg:
            print("stopping PostgreSQL…")
            try:
                self.pg.stop(fast=True)
            except Exception as exc:  # report and go on: the services are down already
                print(f"warning: PostgreSQL did not stop cleanly: {exc}", file=sys.stderr)
        print("Convoy stopped.")

    def _stop_children(self) -> None:
        running = {name: proc for name, proc in self.children.items() if proc.poll() is None}
        if not running:
            return
        print("stopping services…")
        for proc in running.values():
            proc.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for name, proc in running.items():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within {STOP_GRACE:.0f} s; killing it", file=sys.stderr)
                proc.kill()
                proc.wait()


def up() -> int:
    """`python -m devstack up`: brings the stack up, waits for Ctrl-C or SIGTERM, then stops it."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    stack = Stack(StateDir.from_env(), os.environ.get("CONVOY_GATEWAY_ADDR", DEFAULT_GATEWAY_ADDR))
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stopped)
    try:
        stack.bring_up()
        stack.announce()
        stack.watch()
    except Stopped:
        return 0
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.shut_down()
    return 0


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def _service(name: str) -> Service:
    return next(svc for svc in SERVICES if svc.name == name)


def _split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise LaunchError(f"expected host:port, got {addr!r} (CONVOY_GATEWAY_ADDR)")
    return host.strip("[]"), int(port)


def _require_free(addr: str) -> None:
    """Fails early, before anything starts, when the gateway's address is taken."""
    host, port = _split_addr(addr)
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like uvicorn, so that a port left in TIME_WAIT by the previous run does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LaunchError(
                f"{addr} is not available ({exc.strerror}): a Convoy stack may already be running. "
                "Stop it, or set CONVOY_GATEWAY_ADDR to another address."
            ) from exc


def _pythonpath(inherited: str | None) -> str:
    return os.pathsep.join(filter(None, [str(REPO_ROOT), str(REPO_ROOT / "gen"), inherited]))


def _readiness(client: httpx.Client, url: str) -> dict[str, str] | None:
    """The gateway's per-upstream checks once it is ready; None while it is not."""
    try:
        response = client.get(url)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    checks: dict[str, str] = response.json().get("checks", {})
    return checks


def _admin_password(state: StateDir) -> str | None:
    if password := os.environ.get("CONVOY_ADMIN_PASSWORD"):
        return password
    try:
        return state.admin_password.read_text().strip() or None
    except FileNotFoundError:
        return None


def _timestamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


# Linux's prctl(PR_SET_PDEATHSIG, ...); PR_SET_PDEATHSIG is 1.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


# Runs in each child before exec: if the launcher is killed outright, its services get SIGTERM instead of
# living on as orphans that hold the ports.
def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(1, int(signal.SIGTERM))
