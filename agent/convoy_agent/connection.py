"""The control stream: one long-lived Connect call to the scheduler, kept up for as long as the agent runs.

Threads, not asyncio: the stream's responses are read on the main loop's thread, a heartbeat thread sends
heartbeats and renews the certificate, and tasks run on their own worker threads (tasks.py). Everything the
agent says goes through one queue per stream; when the stream is gone, progress is dropped (the next
state replaces it) while results stay in the journal and are sent again on the next stream until the
scheduler acknowledges them.
"""

import logging
import os
import queue
import random
import threading
import time
from typing import Callable, List, Optional

import grpc
from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import serialization
from google.protobuf import timestamp_pb2

from convoy_agent import config as configuration
from convoy_agent import enroll, installed, metrics
from convoy_agent.files import write_atomically
from convoy_agent.proto import agent_pb2, agent_pb2_grpc

LOG = logging.getLogger("convoy_agent.connection")

# Renew when less than this share of the certificate's lifetime is left.
RENEW_FRACTION = 1.0 / 3.0
RENEW_TIMEOUT = 30.0
# Messages of up to 8 MiB: transfer sends 1 MiB chunks, and room is cheap.
MESSAGE_OPTIONS = [
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
]
# HTTP/2 pings every 20 s, even without a call, and a connection whose ping is not answered within 10 s
# is dead: a link that silently went away (a NAT dropping state, a cable pulled) breaks the Connect stream
# and a running download instead of leaving them waiting forever. The servers accept pings every 10 s.
KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", 20000),
    ("grpc.keepalive_timeout_ms", 10000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
CHANNEL_OPTIONS = MESSAGE_OPTIONS + KEEPALIVE_OPTIONS


class Identity:
    """The node's key, certificate and the pinned CA, as PEM, read from the state directory."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, ca_pem: bytes) -> None:
        self.key_pem = key_pem
        self.cert_pem = cert_pem
        self.ca_pem = ca_pem
        self.certificate = x509.load_pem_x509_certificate(cert_pem, default_backend())

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem, private_key=self.key_pem, certificate_chain=self.cert_pem
        )

    def renewal_due(self, now: float) -> bool:
        start, end = enroll.not_before(self.certificate), enroll.not_after(self.certificate)
        return end - now < (end - start) * RENEW_FRACTION


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _pending(path: str) -> str:
    return path + ".next"


def load_identity(config: configuration.Config) -> Identity:
    """The node identity, finishing a renewal that a crash interrupted between its two renames.

    A renewal writes key and certificate to *.next files, then renames the key, then the certificate: if
    the key on disk does not fit the certificate, the pending certificate is the one that does.
    """
    key_pem, cert_pem = _read(config.key_file), _read(config.cert_file)
    if not _matches(key_pem, cert_pem) and os.path.exists(_pending(config.cert_file)):
        pending = _read(_pending(config.cert_file))
        if _matches(key_pem, pending):
            os.rename(_pending(config.cert_file), config.cert_file)
            cert_pem = pending
    for leftover in (_pending(config.key_file), _pending(config.cert_file)):
        if os.path.exists(leftover):
            os.unlink(leftover)
    return Identity(key_pem, cert_pem, _read(config.ca_file))


def _matches(key_pem: bytes, cert_pem: bytes) -> bool:
    try:
        key = serialization.load_pem_private_key(key_pem, None, default_backend())
        enroll.check_certificate_for_key(cert_pem, key)  # type: ignore
    except (ValueError, enroll.EnrollError):
        return False
    return True


def renew(config: configuration.Config, identity: Identity, channel: grpc.Channel) -> Identity:
    """A new key and certificate over the current mutual-TLS channel, swapped in on disk."""
    key = enroll.new_key()
    csr = enroll.csr_pem(key, config.node_id).decode("ascii")
    stub = agent_pb2_grpc.AgentServiceStub(channel)
    response = stub.Renew(agent_pb2.RenewRequest(csr_pem=csr), timeout=RENEW_TIMEOUT)
    cert_pem = response.certificate_pem.encode("ascii")
    enroll.check_certificate_for_key(cert_pem, key)
    key_pem = enroll.key_pem(key)
    write_atomically(_pending(config.key_file), key_pem, 0o600)
    write_atomically(_pending(config.cert_file), cert_pem, 0o644)
    os.rename(_pending(config.key_file), config.key_file)
    os.rename(_pending(config.cert_file), config.cert_file)
    return Identity(key_pem, cert_pem, identity.ca_pem)


def open_channel(target: str, identity: Identity, server_name: str) -> grpc.Channel:
    """A mutual-TLS channel that checks the server's certificate name, not the address it was reached at."""
    options = [("grpc.ssl_target_name_override", server_name)] + CHANNEL_OPTIONS
    return grpc.secure_channel(target, identity.credentials(), options=options)


def now_timestamp() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class Backoff:
    """Exponential backoff with jitter: each delay is drawn from the upper half of min(cap, base * 2^n)."""

    def __init__(self, initial: float, cap: float, rand: Optional[Callable[[], float]] = None) -> None:
        self.initial = initial
        self.cap = max(cap, initial)
        self.failures = 0
        self.rand = rand or random.random

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.initial * (2 ** min(self.failures, 30)))
        self.failures += 1
        return ceiling * (0.5 + 0.5 * self.rand())

    def reset(self) -> None:
        self.failures = 0


class Session:
    """One Connect stream: its outgoing queue and whether it is over."""

    def __init__(self) -> None:
        self.outgoing = queue.Queue()  # type: queue.Queue
        self.closed = threading.Event()
        self.responses = None  # type: Optional[grpc.Future]
        self.reconnect_after = None  # type: Optional[float]
        self.renewed = False
        # The installed software this stream carried last (Hello, then each InstalledReport).
        self.installed = None  # type: Optional[installed.Key]

    def requests(self):
        while True:
            message = self.outgoing.get()
            if message is None:
                return
            yield message

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.outgoing.put(None)
        responses = self.responses
        if responses is not None:
            responses.cancel()


class Agent:
    """Keeps the Connect stream up and routes messages between it and the task runner.

    `runner` is a tasks.TaskRunner (or anything with its methods); `facts` returns the node's Facts.
    """

    def __init__(
        self,
        config: configuration.Config,
        runner,
        facts: Callable[[], agent_pb2.Facts],
        rand: Optional[Callable[[], float]] = None,
    ) -> None:
        self.config = config
        self.runner = runner
        self.facts = facts
        self.backoff = Backoff(config.backoff_initial_seconds, config.backoff_max_seconds, rand)
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.sessions = 0
        self._lock = threading.Lock()
        self._session = None  # type: Optional[Session]
        self.identity = load_identity(config)
        self.reporter = installed.Reporter(config, runner, self)

    # What the task runner calls, from any thread.
    def send(self, message: agent_pb2.AgentMessage) -> bool:
        """Queues a message on the current stream; False when there is none (it will not be sent)."""
        with self._lock:
            session = self._session
        if session is None or session.closed.is_set():
            return False
        session.outgoing.put(message)
        return True

    def current_session(self) -> Optional[Session]:
        with self._lock:
            session = self._session
        return None if session is None or session.closed.is_set() else session

    def report_installed(self, session: Session, software: List[agent_pb2.InstalledSoftware]) -> bool:
        """Sends `software` as an InstalledReport when it differs from what `session` carried last and
        `session` is still the current stream (a read begun before a reconnect is older than that Hello)."""
        key = installed.key_of(software)
        with self._lock:
            if session is not self._session or session.closed.is_set() or key == session.installed:
                return False
            session.installed = key
            report = agent_pb2.InstalledReport(installed=software)
            session.outgoing.put(agent_pb2.AgentMessage(installed=report))
        return True

    def stop(self) -> None:
        self.stopping.set()
        self.reporter.wake()
        with self._lock:
            session = self._session
        if session is not None:
            session.close()

    def run(self) -> None:
        """Connects, and reconnects after every loss, until stop(); the reporter runs alongside."""
        reporter = threading.Thread(target=self.reporter.run, args=(self.stopping,), name="installed")
        reporter.daemon = True
        reporter.start()
        attempts = 0
        while not self.stopping.is_set():
            if attempts:
                metrics.RECONNECTS.inc()
            attempts += 1
            started = time.time()
            session = Session()
            try:
                self._serve(session)
            except grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else None  # type: ignore
                details = error.details() if hasattr(error, "details") else str(error)  # type: ignore
                if code == grpc.StatusCode.PERMISSION_DENIED:
                    LOG.error(
                        "the scheduler refused this node (%s): it was revoked or its enrollment is no "
                        "longer valid; the node must be enrolled again (convoy-agent enroll with a new "
                        "join token)",
                        details,
                    )
                elif code != grpc.StatusCode.CANCELLED or not session.closed.is_set():
                    LOG.warning("control stream lost: %s %s", code.name if code else "", details)
            except Exception:
                LOG.exception("control stream failed")
            finally:
                self.connected.clear()
                metrics.CONNECTED.set(0)
                with self._lock:
                    self._session = None
                session.close()
            if self.stopping.is_set():
                break
            if session.renewed:
                self.backoff.reset()
                continue
            if time.time() - started >= max(30.0, 3 * self.config.heartbeat_seconds):
                self.backoff.reset()
            delay = session.reconnect_after if session.reconnect_after else self.backoff.next_delay()
            LOG.info("reconnecting in %.1f s", delay)
            self.stopping.wait(delay)

    def _serve(self, session: Session) -> None:
        target = self.config.scheduler_target()
        expiry = enroll.not_after(self.identity.certificate)
        if expiry < time.time():
            # The TLS handshake will fail, and gRPC only says it cannot connect: say why.
            LOG.error(
                "the node certificate expired at %s; the node must be enrolled again "
                "(convoy-agent enroll with a new join token)",
                time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expiry)),
            )
        channel = open_channel(target, self.identity, configuration.SCHEDULER_NAME)
        try:
            grpc.channel_ready_future(channel).result(timeout=self.config.connect_timeout_seconds)
            hello = agent_pb2.Hello(facts=self.facts(), installed=self.runner.installed_software())
            session.installed = installed.key_of(list(hello.installed))
            session.outgoing.put(agent_pb2.AgentMessage(hello=hello))
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            session.responses = stub.Connect(session.requests())
            # From here on new results go to this stream; the recorded ones follow the hello. A result
            # finished in between may go twice, which the scheduler takes as one.
            with self._lock:
                self._session = session
            for result in self.runner.pending_results():
                session.outgoing.put(agent_pb2.AgentMessage(result=result))
            if self.stopping.is_set():
                session.close()
            self.sessions += 1
            self.connected.set()
            metrics.CONNECTED.set(1)
            LOG.info("connected to %s as node %s", target, self.config.node_id)
            beat = threading.Thread(target=self._heartbeats, args=(session, channel), name="heartbeat")
            beat.daemon = True
            beat.start()
            for message in session.responses:  # type: ignore
                self._dispatch(session, message)
                if session.closed.is_set():
                    break
        except grpc.FutureTimeoutError:
            LOG.warning("cannot reach the scheduler at %s", target)
        finally:
            session.close()
            channel.close()

    def _dispatch(self, session: Session, message: agent_pb2.ServerMessage) -> None:
        kind = message.WhichOneof("message")
        if kind == "assignment":
            self.runner.submit(message.assignment)
        elif kind == "cancel":
            self.runner.cancel(message.cancel.assignment_id, message.cancel.reason)
        elif kind == "ack":
            self.runner.acknowledged(message.ack.assignment_id, message.ack.attempt)
        elif kind == "approve":
            self.runner.approve(message.approve.assignment_id, message.approve.attempt)
        elif kind == "watch":
            if self.runner.watch(list(message.watch.software_names)):
                self.reporter.wake()
        elif kind == "disconnect":
            LOG.warning("the scheduler closed the stream: %s", message.disconnect.reason)
            if message.disconnect.reconnect_after_seconds > 0:
                session.reconnect_after = float(message.disconnect.reconnect_after_seconds)
            session.close()

    def _heartbeats(self, session: Session, channel: grpc.Channel) -> None:
        while not session.closed.wait(self.config.heartbeat_seconds):
            session.outgoing.put(
                agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat(sent_at=now_timestamp()))
            )
            if self.identity.renewal_due(time.time()):
                self._renew(session, channel)

    def _renew(self, session: Session, channel: grpc.Channel) -> None:
        try:
            self.identity = renew(self.config, self.identity, channel)
        except (grpc.RpcError, enroll.EnrollError, OSError, ValueError) as error:
            # ValueError: the channel was closed under us (the stream ended meanwhile).
            LOG.warning("certificate renewal failed, trying again at the next heartbeat: %s", error)
            return
        expiry = time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(enroll.not_after(self.identity.certificate))
        )
        LOG.info("certificate renewed, valid until %s; reconnecting with it", expiry)
        session.renewed = True
        session.close()
