"""A small scheduler edge and transfer for the agent's tests: real gRPC servers with real TLS on port 0.

Not the real services (those need PostgreSQL and auth): just enough of the AgentService and Download
contracts to drive the agent, record what it says and misbehave on purpose (broken streams, refusals).
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import grpc

from services.kit.pki import CertifiedKey, create_ca, fingerprint, issue_certificate, sign_csr

AGENT_DIR = Path(__file__).resolve().parents[2] / "agent"
if str(AGENT_DIR) not in sys.path:
    sys.path.insert(0, str(AGENT_DIR))

# The agent's modules, for the test modules to import from here (after the path above is set).
from convoy_agent import approvals, cli, connection, enroll, journal, tasks  # noqa: E402
from convoy_agent import config as configuration  # noqa: E402
from convoy_agent.proto import agent_pb2, agent_pb2_grpc, transfer_pb2, transfer_pb2_grpc  # noqa: E402

__all__ = ["approvals", "cli", "configuration", "connection", "enroll", "journal", "tasks"]

WAIT = 30.0
TOKEN = "cvj_" + "a" * 43


def wait_for(condition, timeout: float = WAIT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Pki:
    service_ca: CertifiedKey
    node_ca: CertifiedKey
    scheduler: CertifiedKey
    transfer: CertifiedKey

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.service_ca.certificate)


def make_pki() -> Pki:
    service_ca = create_ca("Convoy dev CA")
    return Pki(
        service_ca=service_ca,
        node_ca=create_ca("Convoy node CA"),
        scheduler=issue_certificate(service_ca, "scheduler", sans=["scheduler"], client=False),
        transfer=issue_certificate(service_ca, "transfer", sans=["transfer"], client=False),
    )


def peer_node(context: grpc.ServicerContext) -> str:
    names = context.auth_context().get("x509_common_name") or [b""]
    return names[0].decode()


class Stream:
    """One Connect call as the server sees it: what the agent sent, and a queue of what to push."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.received: queue.Queue[agent_pb2.AgentMessage] = queue.Queue()
        self.history: list[agent_pb2.AgentMessage] = []
        self.outgoing: queue.Queue[agent_pb2.ServerMessage | None] = queue.Queue()
        self.ended = threading.Event()

    def read(self, requests: Iterator[agent_pb2.AgentMessage]) -> None:
        try:
            for message in requests:
                self.received.put(message)
        except grpc.RpcError:
            pass
        finally:
            self.ended.set()

    def next(self, kind: str, timeout: float = WAIT, where=None) -> agent_pb2.AgentMessage:
        """The next message of `kind` (hello, heartbeat, progress, result) matching `where`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.received.get(timeout=0.05)
            except queue.Empty:
                continue
            self.history.append(message)
            if message.WhichOneof("message") == kind and (where is None or where(getattr(message, kind))):
                return message
        raise AssertionError(
            f"no {kind} within {timeout} s; got {[m.WhichOneof('message') for m in self.history]}"
        )

    def push(self, **fields) -> None:
        self.outgoing.put(agent_pb2.ServerMessage(**fields))

    def close(self) -> None:
        self.outgoing.put(None)

    def progress(self, assignment_id: str) -> list[agent_pb2.TaskProgress]:
        return [
            m.progress
            for m in self.history
            if m.HasField("progress") and m.progress.assignment_id == assignment_id
        ]


class FakeEdge(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, pki: Pki) -> None:
        self.pki = pki
        self.token = TOKEN
        self.lifetime = timedelta(hours=72)
        self.agent_address = ""
        self.enroll_calls = 0
        self.renewals: list[str] = []
        self.connects = 0
        self.refuse_next = 0
        self.deny_next = 0
        self.streams: queue.Queue[Stream] = queue.Queue()

    def Enroll(self, request, context):
        self.enroll_calls += 1
        if request.token != self.token:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "join token is unknown, used up, expired or revoked"
            )
        node_id = str(uuid.uuid4())
        signed = sign_csr(self.pki.node_ca, request.csr_pem.encode(), node_id, lifetime=self.lifetime)
        return agent_pb2.EnrollResponse(
            node_id=node_id,
            certificate_pem=signed.cert_pem().decode(),
            ca_certificate_pem=self.pki.service_ca.cert_pem().decode(),
            agent_address=self.agent_address,
        )

    def Renew(self, request, context):
        node_id = peer_node(context)
        if not node_id:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a node certificate is required")
        signed = sign_csr(self.pki.node_ca, request.csr_pem.encode(), node_id, lifetime=timedelta(hours=72))
        self.renewals.append(node_id)
        return agent_pb2.RenewResponse(certificate_pem=signed.cert_pem().decode())

    def Connect(self, request_iterator, context):
        self.connects += 1
        if self.refuse_next > 0:
            self.refuse_next -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "not now")
        if self.deny_next > 0:
            self.deny_next -= 1
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "node is revoked")
        stream = Stream(peer_node(context))
        reader = threading.Thread(target=stream.read, args=(request_iterator,), daemon=True)
        reader.start()
        self.streams.put(stream)
        while context.is_active():
            try:
                message = stream.outgoing.get(timeout=0.05)
            except queue.Empty:
                continue
            if message is None:
                return
            yield message

    def next_stream(self, timeout: float = WAIT) -> Stream:
        return self.streams.get(timeout=timeout)


class FakeTransfer(transfer_pb2_grpc.TransferServiceServicer):
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.grants: dict[str, set[str]] = {}
        self.chunk_size = 256 * 1024
        self.break_at: int | None = None
        self.chunk_delay = 0.0
        # After this many bytes, send nothing more and never end the call (a silently dead link).
        self.hang_at: int | None = None
        self.hanging = threading.Event()
        # Set while hanging: the call breaks (UNAVAILABLE), as when a dead link is finally noticed.
        self.unhang = threading.Event()
        self.requests: list[tuple[str, int, str]] = []
        self.request_grants: list[str] = []
        # The traceparent metadata of each call ("" when it had none).
        self.traceparents: list[str] = []

    def add(self, data: bytes) -> tuple[str, str]:
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        grant = "grant-" + uuid.uuid4().hex
        self.grants.setdefault(sha, set()).add(grant)
        return sha, grant

    def Download(self, request, context):
        self.requests.append((request.sha256, request.offset, peer_node(context)))
        self.request_grants.append(request.grant)
        self.traceparents.append(dict(context.invocation_metadata()).get("traceparent", ""))
        if request.grant not in self.grants.get(request.sha256, set()):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "no grant for this artifact")
        data = self.blobs[request.sha256]
        yield transfer_pb2.DownloadResponse(
            header=transfer_pb2.DownloadHeader(
                sha256=request.sha256, total_size=len(data), chunk_size=self.chunk_size, offset=request.offset
            )
        )
        position = request.offset
        while position < len(data):
            chunk = data[position : position + self.chunk_size]
            position += len(chunk)
            yield transfer_pb2.DownloadResponse(chunk=chunk)
            time.sleep(self.chunk_delay)
            if self.hang_at is not None and position >= self.hang_at:
                self.hanging.set()
                while context.is_active() and not self.unhang.is_set():
                    time.sleep(0.05)
                if self.unhang.is_set():
                    self.hang_at = None
                    context.abort(grpc.StatusCode.UNAVAILABLE, "link down")
                return
            if self.break_at is not None and position >= self.break_at:
                self.break_at = None
                context.abort(grpc.StatusCode.UNAVAILABLE, "link down")


@dataclass
class Servers:
    pki: Pki
    edge: FakeEdge
    transfer: FakeTransfer
    enroll_port: int
    agent_port: int
    transfer_port: int
    grpc_servers: list[grpc.Server] = field(default_factory=list)

    @property
    def enroll_address(self) -> str:
        return f"127.0.0.1:{self.enroll_port}"


def start_servers() -> Servers:
    pki = make_pki()
    edge, transfer = FakeEdge(pki), FakeTransfer()
    options = [
        ("grpc.max_send_message_length", 8 << 20),
        ("grpc.max_receive_message_length", 8 << 20),
        # The agent pings every 20 s, with or without calls: accept it, as the real services do.
        ("grpc.http2.min_ping_interval_without_data_ms", 10000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]
    scheduler = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=options)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(edge, scheduler)
    # The enrollment port sends the service CA along with its certificate: the agent pins it by hash.
    chain = pki.scheduler.cert_pem() + pki.service_ca.cert_pem()
    enroll_credentials = grpc.ssl_server_credentials(
        [(pki.scheduler.key_pem(), chain)], require_client_auth=False
    )
    enroll_port = scheduler.add_secure_port("127.0.0.1:0", enroll_credentials)
    agent_credentials = grpc.ssl_server_credentials(
        [(pki.scheduler.key_pem(), pki.scheduler.cert_pem())],
        root_certificates=pki.node_ca.cert_pem(),
        require_client_auth=True,
    )
    agent_port = scheduler.add_secure_port("127.0.0.1:0", agent_credentials)
    edge.agent_address = f":{agent_port}"
    store = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=options)
    transfer_pb2_grpc.add_TransferServiceServicer_to_server(transfer, store)
    transfer_credentials = grpc.ssl_server_credentials(
        [(pki.transfer.key_pem(), pki.transfer.cert_pem())],
        root_certificates=pki.node_ca.cert_pem(),
        require_client_auth=True,
    )
    transfer_port = store.add_secure_port("127.0.0.1:0", transfer_credentials)
    scheduler.start()
    store.start()
    return Servers(pki, edge, transfer, enroll_port, agent_port, transfer_port, [scheduler, store])


@contextlib.contextmanager
def serving() -> Iterator[Servers]:
    """Fresh servers (and PKI) for one test; each test module wraps this in its `servers` fixture."""
    started = start_servers()
    try:
        yield started
    finally:
        for server in started.grpc_servers:
            server.stop(grace=None)


def enroll_node(
    servers: Servers,
    tmp_path: Path,
    facts: agent_pb2.Facts,
    *,
    root: Path | None = None,
    ca_file: Path | None = None,
) -> configuration.Config:
    """Enrolls with the pinned fingerprint: state in tmp_path/state, configuration in tmp_path/agent.json,
    confined to the sandbox `root` when one is given, the CA read from `ca_file` instead of the handshake."""
    return enroll.enroll(
        servers.enroll_address,
        TOKEN,
        servers.pki.fingerprint,
        str(tmp_path / "state"),
        config_file=str(tmp_path / "agent.json"),
        sandbox_root=str(root) if root else "",
        ca_file=str(ca_file) if ca_file else None,
        facts=facts,
    )
