"""The whole control plane as real processes on a fresh database, reachable by agents in network namespaces.

Every service runs as `python -m services.<name> serve`, prepared and wired by the launcher of `make up`
(devstack.launcher), with the test timings on top of its environment. Services that only the gateway and
other services call listen on 127.0.0.1; what nodes dial (the launcher's node-facing ports: the scheduler's
agent and enrollment ports, transfer) listens on the bridge address of the test network, which the host
reaches too. The service certificates carry that address as a SAN, so services verify transfer at it like
any other name; agents verify by the names "scheduler" and "transfer" (target name override) and need no
address in them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from cryptography import x509

from devstack.launcher import (
    ADMIN_USERNAME,
    LOOPBACK,
    PKI_NAMES,
    SERVICES,
    PortKind,
    StateDir,
    listeners,
    prepare,
    service_env,
)
from devstack.ports import free_port
from devstack.postgres import LocalPostgres
from services.kit.pki import DEFAULT_HOSTS, fingerprint, write_pki_dir

__all__ = [
    "ADMIN_PASSWORD",
    "DEPLOY_TIMEOUT",
    "FINAL_STATES",
    "IN_FLIGHT_STATES",
    "E2EStack",
    "Event",
    "EventStream",
    "ServiceProcess",
    "LOG_SOURCES",
    "StackError",
    "port_open",
    "ThrottledProxy",
    "create_deployment",
    "deploy_and_wait",
    "describe",
    "e2e_stack",
    "get_deployment",
    "ok",
    "software",
    "target_log",
    "targets",
    "upload",
    "wait_for",
    "wait_state",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "e2e-Admin-pw-40417"
READY_TIMEOUT = 90.0
STOP_GRACE = 15.0
HTTP_TIMEOUT = 30.0
# Short timings: a test waits for the rollout, for heartbeats and for offline marks in seconds, not minutes.
TEST_TIMINGS = {
    "CONVOY_SCHEDULER_POLL_SECONDS": "0.5",
    "CONVOY_SCHEDULER_HEARTBEAT_SECONDS": "2",
    "CONVOY_SCHEDULER_OFFLINE_GRACE_SECONDS": "5",
    "CONVOY_SCHEDULER_LEASE_SECONDS": "10",
    "CONVOY_GATEWAY_EVENTS_HEARTBEAT_SECONDS": "2",
    # Stops at once: the tests kill and restart services and must not wait for drains.
    **{f"CONVOY_{svc.name.upper()}_DRAIN_SECONDS": "0" for svc in SERVICES},
    **{f"CONVOY_{svc.name.upper()}_SHUTDOWN_GRACE_SECONDS": "2" for svc in SERVICES},
}


# Log tails of what the running test module started (stack, agents); the e2e conftest prints them when a
# test fails.
LOG_SOURCES: list[Callable[[], str]] = []


class StackError(Exception):
    """The stack could not be brought up or a service died; the message carries the end of its log."""


def wait_for(check: Any, *, timeout: float, interval: float = 0.25, what: str = "the condition") -> Any:
    """Calls `check()` until it returns something truthy (returned) or `timeout` seconds pass (AssertionError
    with the last value): every wait of the end-to-end tests is bounded."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s; last value: {last!r}")
        time.sleep(interval)


@dataclass
class ServiceProcess:
    """One running service process and its log file."""

    name: str
    module: str
    proc: subprocess.Popen[bytes]
    log: Path
    log_start: int

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            with self.log.open("rb") as handle:
                handle.seek(self.log_start)
                text = handle.read().decode(errors="replace")
        except FileNotFoundError:
            text = ""
        return f"--- last lines of {self.log} ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class E2EStack:
    """A running control plane. `host_ip` is the bridge address; `*_address` are what agents dial."""

    state: StateDir
    host_ip: str
    env: dict[str, str]
    url: str
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    # Extra processes (a second scheduler …), by the name given to `spawn`.
    _token: str | None = None

    # --- addresses -----------------------------------------------------------------------------------

    @property
    def enroll_address(self) -> str:
        """The scheduler's enrollment port as agents reach it (server-only TLS)."""
        return self.env["CONVOY_SCHEDULER_ENROLL_LISTEN"]

    @property
    def agent_address(self) -> str:
        """The scheduler's agent port (mutual TLS with node certificates)."""
        return self.env["CONVOY_SCHEDULER_AGENT_LISTEN"]

    @property
    def transfer_address(self) -> str:
        return self.env["CONVOY_TRANSFER_LISTEN"]

    @property
    def scheduler_target(self) -> str:
        """The scheduler's service port (gateway and services, on loopback)."""
        return self.env["CONVOY_SCHEDULER_LISTEN"]

    @property
    def database_url(self) -> str:
        return self.env["CONVOY_DATABASE_URL"]

    @property
    def pki_dir(self) -> Path:
        return self.state.pki

    @property
    def bind_hosts(self) -> dict[PortKind, str]:
        """Where the stack's ports listen, by who dials them (loopback for the rest)."""
        return _bind_hosts(self.host_ip)

    @property
    def ca_fingerprint(self) -> str:
        """sha256:… of the service CA, what a join command pins."""
        return fingerprint(x509.load_pem_x509_certificate((self.pki_dir / "ca.pem").read_bytes()))

    # --- REST ----------------------------------------------------------------------------------------

    def admin_token(self) -> str:
        if self._token is None:
            with httpx.Client(base_url=self.url, timeout=HTTP_TIMEOUT) as client:
                response = client.post(
                    "/api/v1/auth/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
                )
            if response.status_code != 200:
                raise StackError(f"admin login failed: {response.status_code} {response.text}")
            self._token = str(response.json()["access_token"])
        return self._token

    @contextlib.contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """An HTTP client on the gateway, logged in as the admin."""
        headers = {"Authorization": f"Bearer {self.admin_token()}"}
        with httpx.Client(base_url=self.url, timeout=HTTP_TIMEOUT, headers=headers) as client:
            yield client

    def create_join_token(
        self,
        client: httpx.Client,
        *,
        group_ids: list[str] | None = None,
        server_id: str | None = None,
        ttl_seconds: int | None = None,
        max_uses: int | None = None,
    ) -> dict[str, Any]:
        """POST /api/v1/join-tokens; the response body (token, ca_fingerprint, command …)."""
        body: dict[str, Any] = {}
        if group_ids:
            body["group_ids"] = group_ids
        if server_id:
            body["server_id"] = server_id
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if max_uses is not None:
            body["max_uses"] = max_uses
        response = client.post("/api/v1/join-tokens", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    # --- processes -----------------------------------------------------------------------------------

    def spawn(
        self, name: str, module: str | None = None, env: Mapping[str, str] | None = None
    ) -> ServiceProcess:
        """Starts `python -m <module> serve` (module defaults to services.<name>) as `name`, with `env` on
        top of the stack's environment; replaces a dead process of that name. Another instance of a
        service (a name other than the service's own) gets free ports of its own for every listener,
        so that it never competes with the first for one; `env` still decides those it names."""
        module = module or f"services.{name}"
        svc = next((svc for svc in SERVICES if svc.module == module), None)
        own = listeners(svc, self.bind_hosts) if svc is not None and svc.name != name else {}
        old = self.services.get(name)
        if old is not None and old.alive():
            raise StackError(f"{name} is still running")
        log = self.state.log(name)
        with log.open("ab") as handle:
            handle.write(f"--- {time.strftime('%H:%M:%S')} python -m {module} serve\n".encode())
            handle.flush()
            start = handle.tell()
            proc = subprocess.Popen(
                [sys.executable, "-m", module, "serve"],
                env={**self.env, **own, **(env or {})},
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = ServiceProcess(name, module, proc, log, start)
        self.services[name] = service
        return service

    def start_replica(self, service: str, name: str) -> ServiceProcess:
        """Another instance of `service` (e.g. a second scheduler on the same database) as `name`, on ports
        of its own, once its main port answers."""
        listen = f"{LOOPBACK}:{free_port()}"
        process = self.spawn(name, f"services.{service}", env={f"CONVOY_{service.upper()}_LISTEN": listen})
        wait_for(lambda: port_open(listen), timeout=READY_TIMEOUT, what=f"{name} serving")
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = STOP_GRACE) -> int:
        """Sends `sig` to the service and waits for it to exit; its exit code."""
        service = self.services[name]
        if service.alive():
            service.proc.send_signal(sig)
        try:
            return service.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            service.proc.kill()
            return service.proc.wait()

    def restart(self, name: str, sig: int = signal.SIGTERM) -> ServiceProcess:
        service = self.services[name]
        self.kill(name, sig)
        return self.spawn(name, service.module)

    def check_alive(self) -> None:
        for service in self.services.values():
            code = service.proc.poll()
            if code is not None:
                raise StackError(f"{service.name} exited with code {code}\n{service.log_tail()}")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict[str, str]:
        """Waits until the gateway's /readyz says every upstream answers; its checks."""
        deadline = time.monotonic() + timeout
        last: Any = None
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                with contextlib.suppress(httpx.TransportError):
                    response = client.get(f"{self.url}/readyz")
                    last = response.text
                    if response.status_code == 200:
                        checks: dict[str, str] = response.json().get("checks", {})
                        return checks
                time.sleep(0.3)
        raise StackError(f"the gateway was not ready within {timeout:.0f} s: {last}\n{self.logs()}")

    def logs(self, lines: int = 60) -> str:
        return "\n".join(service.log_tail(lines) for service in self.services.values())

    def stop(self) -> None:
        running = [service for service in self.services.values() if service.alive()]
        for service in running:
            service.proc.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for service in running:
            try:
                service.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.proc.pid, signal.SIGKILL)
                service.proc.wait()


def port_open(address: str) -> bool:
    """Whether something accepts TCP connections at host:port."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def _stack_env(
    state: StateDir, database_url: str, host_ip: str, overrides: Mapping[str, str] | None
) -> dict[str, str]:
    """The launcher's environment for the stack, node-facing ports on `host_ip`, none of this process's
    CONVOY_* settings, with the test timings and the test's overrides on top."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("CONVOY_")}
    env = service_env(state, database_url, f"{LOOPBACK}:{free_port()}", hosts=_bind_hosts(host_ip), base=base)
    env.update(CONVOY_ADMIN_PASSWORD=ADMIN_PASSWORD, **TEST_TIMINGS, **(overrides or {}))
    return env


@contextlib.contextmanager
def e2e_stack(
    postgres: LocalPostgres,
    workdir: Path,
    host_ip: str,
    *,
    env: Mapping[str, str] | None = None,
    log_sink: IO[str] | None = None,
) -> Iterator[E2EStack]:
    """Migrates a fresh database, writes a PKI (with `host_ip` in the service certificates), starts every
    service and waits for the gateway's readiness; stops them all on the way out. `env` overrides settings
    (e.g. {"CONVOY_SCHEDULER_LEASE_SECONDS": "5"}). On an error while starting, the logs go to `log_sink`
    (default stderr)."""
    state = StateDir.at(workdir)
    state.create()
    database = f"e2e_{uuid.uuid4().hex[:10]}"
    postgres.create_database(database)
    write_pki_dir(state.pki, PKI_NAMES, hosts=[*DEFAULT_HOSTS, host_ip])
    stack_environment = _stack_env(state, postgres.url(database), host_ip, env)
    stack = E2EStack(state, host_ip, stack_environment, f"http://{stack_environment['CONVOY_GATEWAY_ADDR']}")
    try:
        prepare(stack.env, state, say=_quiet)
        # In the launcher's start order: each service only needs those above it; the gateway comes last
        # and tells when all are ready.
        for svc in SERVICES:
            stack.spawn(svc.name, svc.module)
        stack.wait_ready()
        yield stack
    except BaseException:
        print(stack.logs(), file=log_sink or sys.stderr)
        raise
    finally:
        stack.stop()


def _bind_hosts(host_ip: str) -> dict[PortKind, str]:
    """What nodes dial listens on the bridge address, which the namespaces reach; the rest on loopback."""
    return {PortKind.NODE: host_ip}


def _quiet(line: str) -> None:
    """Keeps the launcher's progress lines out of the test output: the logs tell what went wrong."""


# --- the REST API as the tests use it ------------------------------------------------------------------------

FINAL_STATES = ("succeeded", "failed", "cancelled")
IN_FLIGHT_STATES = ("assigned", "downloading", "installing", "awaiting_approval")
DEPLOY_TIMEOUT = 180.0


def ok(response: httpx.Response, *codes: int) -> Any:
    """The JSON body, after checking the status (200 unless `codes` say otherwise)."""
    assert response.status_code in (codes or (200,)), (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    return response.json() if response.content else None


def upload(client: httpx.Client, path: Path) -> dict[str, Any]:
    """POST /api/v1/packages; the package."""
    with path.open("rb") as file:
        response = client.post(
            "/api/v1/packages", files={"file": (path.name, file, "application/octet-stream")}
        )
    package: dict[str, Any] = ok(response, 201)
    return package


def create_deployment(client: httpx.Client, **body: Any) -> dict[str, Any]:
    """POST /api/v1/deployments (not a dry run); the deployment."""
    created = ok(client.post("/api/v1/deployments", json=body), 201)
    assert created["deployment"] is not None, created
    deployment: dict[str, Any] = created["deployment"]
    return deployment


def get_deployment(client: httpx.Client, deployment_id: str) -> dict[str, Any]:
    deployment: dict[str, Any] = ok(client.get(f"/api/v1/deployments/{deployment_id}"))
    return deployment


def targets(client: httpx.Client, deployment_id: str) -> dict[str, dict[str, Any]]:
    """The current attempt of every target, by server id."""
    page = ok(client.get(f"/api/v1/deployments/{deployment_id}/targets", params={"page_size": 500}))
    return {target["server_id"]: target for target in page["items"]}


def target_log(client: httpx.Client, deployment_id: str, server_id: str) -> str:
    body = ok(client.get(f"/api/v1/deployments/{deployment_id}/targets/{server_id}/log"))
    return "\n".join(line["text"] for line in body["lines"])


def describe(client: httpx.Client, deployment_id: str) -> str:
    """Deployment, targets and target logs, for an assertion message."""
    found = targets(client, deployment_id)
    logs = "\n".join(f"--- log of {sid}:\n{target_log(client, deployment_id, sid)}" for sid in found)
    return f"{get_deployment(client, deployment_id)}\n{found}\n{logs}"


def wait_state(
    client: httpx.Client,
    deployment_id: str,
    states: tuple[str, ...] = FINAL_STATES,
    timeout: float = DEPLOY_TIMEOUT,
) -> dict[str, Any]:
    """Polls GET /api/v1/deployments/{id} until its state is one of `states` (default: a final one)."""

    def reached() -> dict[str, Any] | None:
        deployment = get_deployment(client, deployment_id)
        return deployment if deployment["state"] in states else None

    try:
        result: dict[str, Any] = wait_for(reached, timeout=timeout, interval=0.5, what=f"{states}")
    except AssertionError:
        raise AssertionError(
            f"deployment {deployment_id} not in {states} within {timeout:.0f} s:\n"
            + describe(client, deployment_id)
        ) from None
    return result


def deploy_and_wait(
    client: httpx.Client, timeout: float = DEPLOY_TIMEOUT, **body: Any
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Creates the deployment, waits until it is final; (deployment, targets by server id)."""
    deployment = create_deployment(client, **body)
    final = wait_state(client, deployment["id"], timeout=timeout)
    return final, targets(client, deployment["id"])


def software(client: httpx.Client, server_id: str, name: str) -> str | None:
    """The version inventory records for `name` on the server (GET /api/v1/servers/{id}/software)."""
    page = ok(client.get(f"/api/v1/servers/{server_id}/software", params={"name": name}))
    versions = [item["version"] for item in page["items"] if item["name"] == name]
    assert len(versions) <= 1, page
    return versions[0] if versions else None


@dataclass
class Event:
    sequence: int
    kind: str  # "deployment" or "target"
    data: dict[str, Any]


class EventStream:
    """Reads GET /api/v1/events on a thread from the moment it is opened; `events` grows as they come.
    Open it before creating a deployment to see every one of its events."""

    def __init__(self, stack: E2EStack, deployment_id: str = "", last_event_id: int | None = None) -> None:
        self.stack = stack
        self.deployment_id = deployment_id
        # Sent as Last-Event-ID: the stream replays the kept events after that one first.
        self.last_event_id = last_event_id
        self.events: list[Event] = []
        self.comments = 0
        # How many events had arrived when each comment came: the server sends a comment only after a
        # heartbeat interval without events, so a comment after an event means nothing more was pending.
        self.comment_marks: list[int] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True, name="sse")

    def __enter__(self) -> EventStream:
        self._thread.start()
        if not self._connected.wait(HTTP_TIMEOUT):
            raise AssertionError(f"the event stream did not open: {self.error!r}")
        if self.error is not None:
            raise AssertionError(f"the event stream failed: {self.error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(HTTP_TIMEOUT)

    def _read(self) -> None:
        params = {"deployment_id": self.deployment_id} if self.deployment_id else {}
        headers = {"Authorization": f"Bearer {self.stack.admin_token()}"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        timeout = httpx.Timeout(HTTP_TIMEOUT, read=HTTP_TIMEOUT)
        try:
            with httpx.Client(base_url=self.stack.url, timeout=timeout, headers=headers) as client:
                with client.stream("GET", "/api/v1/events", params=params) as response:
                    if response.status_code != 200:
                        raise AssertionError(f"GET /api/v1/events: {response.status_code}")
                    self._connected.set()
                    fields: dict[str, str] = {}
                    for line in response.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith(":"):
                            self.comments += 1
                            self.comment_marks.append(len(self.events))
                        elif not line:
                            if "data" in fields:
                                self.events.append(
                                    Event(
                                        int(fields.get("id", "0")),
                                        fields.get("event", ""),
                                        json.loads(fields["data"]),
                                    )
                                )
                            fields = {}
                        else:
                            name, _, value = line.partition(":")
                            value = value.removeprefix(" ")
                            fields[name] = fields[name] + "\n" + value if name in fields else value
        except BaseException as exc:  # reported to the test by wait()/__enter__
            self.error = exc
        finally:
            self._connected.set()

    def of(self, deployment_id: str) -> list[Event]:
        return [event for event in list(self.events) if event.data.get("deployment_id") == deployment_id]

    def wait_final(self, deployment_id: str, timeout: float = DEPLOY_TIMEOUT) -> list[Event]:
        """The deployment's events up to and including the one that shows it final."""

        def final() -> list[Event] | None:
            if self.error is not None:
                raise AssertionError(f"the event stream failed: {self.error!r}")
            events = self.of(deployment_id)
            for index, event in enumerate(events):
                if (
                    event.kind == "deployment"
                    and (event.data.get("deployment") or {}).get("state") in FINAL_STATES
                ):
                    return events[: index + 1]
            return None

        result: list[Event] = wait_for(final, timeout=timeout, what=f"a final event of {deployment_id}")
        return result

    def wait_idle(self, count: int, timeout: float = HTTP_TIMEOUT) -> list[Event]:
        """Every event, once at least `count` have come and a keep-alive comment followed the last of them
        (the server had nothing more to send for a heartbeat interval)."""

        def idle() -> list[Event] | None:
            if self.error is not None:
                raise AssertionError(f"the event stream failed: {self.error!r}")
            seen = len(self.events)
            if seen >= count and any(mark == seen for mark in self.comment_marks):
                return list(self.events)
            return None

        result: list[Event] = wait_for(idle, timeout=timeout, what=f"{count} events, then silence")
        return result


# --- a slow link to transfer ---------------------------------------------------------------------------------


@dataclass
class ProxiedConnection:
    opened: float
    down: int = 0  # bytes from the target to the client
    up: int = 0


class ThrottledProxy:
    """A TCP relay on `host` that passes the target's bytes to clients at most `rate` bytes/s per
    connection (there is no netem here), and counts what each connection carried. TLS passes through
    untouched. Point an advertised address at `address`; set `target` before the first client comes."""

    CHUNK = 64 * 1024

    def __init__(self, host: str, rate: int, target: str = "") -> None:
        self.rate = rate
        self.target = target
        self.connections: list[ProxiedConnection] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener = socket.create_server((host, 0))
        self.address = f"{host}:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            host, _, port = self.target.rpartition(":")
            try:
                upstream = socket.create_connection((host, int(port)), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            record = ProxiedConnection(time.monotonic())
            with self._lock:
                self.connections.append(record)
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, record, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, record, True), daemon=True).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, record: ProxiedConnection, down: bool
    ) -> None:
        try:
            while True:
                data = source.recv(self.CHUNK)
                if not data:
                    break
                sink.sendall(data)
                if down:
                    record.down += len(data)
                    time.sleep(len(data) / self.rate)
                else:
                    record.up += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def bytes_since(self, moment: float) -> int:
        """Bytes passed to clients over the connections opened after `moment` (time.monotonic())."""
        with self._lock:
            return sum(c.down for c in self.connections if c.opened >= moment)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            sock.close()
