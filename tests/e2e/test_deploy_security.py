"""Refusals end to end: a used join token, an expired one, a revoked node, a node downloading what it was not
granted, a node reporting on another node's assignment (each audited), and certificates that do not get past
the TLS handshake (another CA, expired).

The node-side calls are made by a client written here with the generated stubs and an enrolled agent's own
key and certificate from its state directory, from the test's host (the node-facing ports listen on the
bridge, which the namespaces and the host share): what a stolen node identity or a tampered agent could
send, which a well-behaved agent never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import platform
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from convoy.transfer.v1 import transfer_pb2 as transfer_pb
from convoy.transfer.v1 import transfer_pb2_grpc as transfer_grpc
from services.kit.pki import NODE_CA_COMMON_NAME, create_ca, node_uri, sign_csr
from tests.support.agents import AgentHost, build_scripted_tarball
from tests.support.e2e_stack import E2EStack, create_deployment, ok, target_log, targets, upload, wait_for
from tests.support.stack import resigned_by_node_ca

E2E_HOSTS = 6
# Every call of the hand-made client, and every message it waits for, is bounded by this.
CALL_TIMEOUT = 30.0
ASSIGNMENT_TIMEOUT = 90.0

pytestmark = pytest.mark.timeout(600)


def audit(client: httpx.Client, action: str, result: str, **filters: str) -> list[dict[str, Any]]:
    """GET /api/v1/audit with these filters (actor and target are exact matches), newest first."""
    params = {"action": action, "result": result, "page_size": "200", **filters}
    page = ok(client.get("/api/v1/audit", params={k: v for k, v in params.items() if v}))
    records: list[dict[str, Any]] = page["items"]
    return records


def expire_token(database_url: str, token_id: str) -> None:
    """Moves a token's expiry into the past, as the clock would after its TTL (15 minutes at least)."""

    async def run() -> None:
        connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await connection.execute(
                "UPDATE auth.join_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
                token_id,
            )
        finally:
            await connection.close()

    asyncio.run(run())


def test_used_and_expired_join_tokens_are_refused_and_audited(e2e: E2EStack, make_agent_host: Any) -> None:
    first: AgentHost = make_agent_host("deb", "sec-1")
    second: AgentHost = make_agent_host("deb", "sec-2")
    with e2e.client() as client:
        once = e2e.create_join_token(client)
        first.enroll_ok(once["token"], e2e.enroll_address, once["ca_fingerprint"])

        used = second.enroll(once["token"], e2e.enroll_address, once["ca_fingerprint"])
        assert used.returncode != 0, used.stdout
        assert "join token" in used.stderr, used.stderr
        assert not second.config_file.exists()

        late = e2e.create_join_token(client)
        expire_token(e2e.database_url, late["join_token"]["id"])
        expired = second.enroll(late["token"], e2e.enroll_address, late["ca_fingerprint"])
        assert expired.returncode != 0, expired.stdout
        assert "join token" in expired.stderr, expired.stderr

        denied = audit(client, "node.enroll", "denied")
        reasons = " | ".join(record["reason"] for record in denied)
        assert "used" in reasons and "expired" in reasons, denied


def test_revoked_node_is_cut_off_and_refused(e2e: E2EStack, make_agent_host: Any) -> None:
    host: AgentHost = make_agent_host("rpm", "sec-3")
    with e2e.client() as client:
        token = e2e.create_join_token(client)
        node_id = host.enroll_ok(token["token"], e2e.enroll_address, token["ca_fingerprint"])
        # Enrolled but not connected yet: pending until the agent's stream says hello.
        assert ok(client.get(f"/api/v1/servers/{node_id}"))["status"] == "pending"
        host.start()

        def connected() -> bool:
            return bool(ok(client.get(f"/api/v1/servers/{node_id}"))["status"] == "online")

        wait_for(connected, timeout=60, what="the node's stream up (its hello recorded)")
        before = host.log_file.stat().st_size
        ok(client.post(f"/api/v1/servers/{node_id}/revoke", json={"reason": "decommissioned"}), 200, 204)
        assert ok(client.get(f"/api/v1/servers/{node_id}"))["status"] == "revoked"

        # The agent is told: its open stream is closed with the reason, and its next attempt is refused with
        # the word that the node must be enrolled again.
        def agent_log() -> str:
            with host.log_file.open("rb") as log:
                log.seek(before)
                return log.read().decode(errors="replace")

        wait_for(
            lambda: "the scheduler closed the stream: this node was revoked: decommissioned" in agent_log(),
            timeout=60,
            what="the agent's stream closed with the revocation",
        )
        wait_for(
            lambda: (
                "the scheduler refused this node" in agent_log() and "must be enrolled again" in agent_log()
            ),
            timeout=60,
            what="the agent refused on its next call",
        )
        refusal = next(line for line in agent_log().splitlines() if "the scheduler refused this node" in line)
        assert " ERROR " in refusal and "revoked" in refusal, refusal
        assert host.running, host.log_tail()  # it keeps trying with its backoff; only an operator ends it

        # The open stream is closed and every reconnect refused: each refusal leaves a denied record.
        def refused_again() -> bool:
            return any(node_id in (r["target"] + r["actor"]) for r in audit(client, "", "denied"))

        wait_for(refused_again, timeout=60, what="a denied call of the revoked node in the audit log")
        assert ok(client.get(f"/api/v1/servers/{node_id}"))["status"] == "revoked"
        revoked = [
            r for r in audit(client, "", "success") if node_id in r["target"] and "revoke" in r["action"]
        ]
        assert revoked, "no audit record of the revocation"


# --- a node's own identity in a hand-made client -------------------------------------------------------------


@dataclass(frozen=True)
class NodeIdentity:
    """What an enrolled agent keeps in its state directory: its key, its certificate and the pinned CA."""

    node_id: str
    key_pem: bytes
    certificate_pem: bytes
    ca_pem: bytes

    @classmethod
    def of(cls, host: AgentHost) -> NodeIdentity:
        state = host.state_dir
        return cls(
            host.node_id,
            (state / "node-key.pem").read_bytes(),
            (state / "node.pem").read_bytes(),
            (state / "ca.pem").read_bytes(),
        )

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem)

    def with_certificate(self, certificate: x509.Certificate) -> NodeIdentity:
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        return NodeIdentity(self.node_id, self.key_pem, pem, self.ca_pem)


@contextlib.contextmanager
def node_channel(address: str, server_name: str, identity: NodeIdentity) -> Iterator[grpc.Channel]:
    """A channel as the agent opens it: the pinned CA, the server's certificate name, the node's key and
    certificate as the client certificate."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=identity.ca_pem,
        private_key=identity.key_pem,
        certificate_chain=identity.certificate_pem,
    )
    options = [("grpc.ssl_target_name_override", server_name)]
    with grpc.secure_channel(address, credentials, options=options) as channel:
        yield channel


def download(channel: grpc.Channel, sha256: str, grant: str) -> bytes:
    """The whole blob through transfer's Download with this grant (grpc.RpcError when refused)."""
    stub = transfer_grpc.TransferServiceStub(channel)
    request = transfer_pb.DownloadRequest(sha256=sha256, offset=0, grant=grant)
    data = bytearray()
    for response in stub.Download(request, timeout=CALL_TIMEOUT):
        if response.WhichOneof("payload") == "chunk":
            data += response.chunk
    return bytes(data)


def refusal(call: Any) -> grpc.StatusCode:
    """The status code `call()` fails with (the test fails when it succeeds)."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    raise AssertionError("the call was not refused")


def hello_facts(host: AgentHost) -> agent_pb.Facts:
    return agent_pb.Facts(
        hostname=host.hostname,
        ip_addresses=[host.ip],
        os_id="debian",
        version_id="12",
        pretty_name="Debian GNU/Linux 12 (bookworm)",
        package_family=agent_pb.PACKAGE_FAMILY_DEB,
        arch=platform.machine(),
        python_version=platform.python_version(),
        agent_version="hand-made",
    )


class NodeStream:
    """One Connect stream of a node: messages are sent when `send` is called, received ones are queued by a
    reader thread; every wait is bounded and the call itself has a deadline."""

    _END = object()

    def __init__(self, channel: grpc.Channel) -> None:
        self._outgoing: queue.Queue[agent_pb.AgentMessage | None] = queue.Queue()
        self._incoming: queue.Queue[Any] = queue.Queue()
        self.code: grpc.StatusCode | None = None
        self.details = ""
        stub = agent_grpc.AgentServiceStub(channel)
        self._call = stub.Connect(iter(self._outgoing.get, None), timeout=ASSIGNMENT_TIMEOUT * 2)
        self._reader = threading.Thread(target=self._read, daemon=True, name="connect-reader")
        self._reader.start()

    def _read(self) -> None:
        try:
            for message in self._call:
                self._incoming.put(message)
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            self.code, self.details = exc.code(), exc.details() or ""
        finally:
            self._incoming.put(self._END)

    def send(self, **message: Any) -> None:
        self._outgoing.put(agent_pb.AgentMessage(**message))

    def hello(self, host: AgentHost) -> None:
        self.send(hello=agent_pb.Hello(facts=hello_facts(host)))

    def assignment(self, timeout: float = ASSIGNMENT_TIMEOUT) -> agent_pb.Assignment:
        """The next assignment pushed on this stream (other messages are passed over)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self._incoming.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no assignment within {timeout:.0f} s") from None
            assert message is not self._END, f"the stream ended: {self.code} {self.details}"
            if message.WhichOneof("message") == "assignment":
                return message.assignment

    def closed_with(self, timeout: float = CALL_TIMEOUT) -> grpc.StatusCode:
        """Reads to the end of the stream; its status code."""
        self._reader.join(timeout)
        assert not self._reader.is_alive(), "the stream was not closed"
        assert self.code is not None
        return self.code

    def close(self) -> None:
        self._outgoing.put(None)
        self._call.cancel()
        self._reader.join(CALL_TIMEOUT)


@contextlib.contextmanager
def connected(stack: E2EStack, host: AgentHost, identity: NodeIdentity | None = None) -> Iterator[NodeStream]:
    """A Connect stream as `host` (its own identity unless another is given), hello sent."""
    with node_channel(stack.agent_address, "scheduler", identity or NodeIdentity.of(host)) as channel:
        stream = NodeStream(channel)
        try:
            stream.hello(host)
            yield stream
        finally:
            stream.close()


# --- grants and reports: two enrolled nodes, driven by hand -----------------------------------------------------


@dataclass
class Pair:
    """Nodes a and b, enrolled and driven by hand-made streams, each holding an assignment for blob x of one
    deployment (with the grant the scheduler made for it); blob y belongs to another package."""

    a: AgentHost
    b: AgentHost
    deployment_id: str
    sha_x: str
    sha_y: str
    size_x: int
    assignment_a: agent_pb.Assignment
    assignment_b: agent_pb.Assignment


@pytest.fixture(scope="module")
def pair(e2e: E2EStack, make_agent_host: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    a: AgentHost = make_agent_host("deb", "sec-a")
    b: AgentHost = make_agent_host("deb", "sec-b")
    packages = tmp_path_factory.mktemp("sec-packages")
    with e2e.client() as client:
        group = ok(client.post("/api/v1/groups", json={"name": "sec-pair"}), 201)
        token = e2e.create_join_token(client, group_ids=[group["id"]], max_uses=2)
        for host in (a, b):
            host.enroll_ok(token["token"], e2e.enroll_address, token["ca_fingerprint"])
        x = upload(client, build_scripted_tarball(packages, "sec-blob-x", "1.0"))
        y = upload(client, build_scripted_tarball(packages, "sec-blob-y", "1.0"))
        with connected(e2e, a) as stream_a, connected(e2e, b) as stream_b:
            deployment = create_deployment(
                client, package_id=x["id"], action="install", target={"group_id": group["id"]}
            )
            assignment_a, assignment_b = stream_a.assignment(), stream_b.assignment()
            stream_a.close()
            assert assignment_a.package.sha256 == assignment_b.package.sha256 == x["artifact_sha256"]
            assert assignment_a.download_grant and assignment_b.download_grant
            assert assignment_a.assignment_id != assignment_b.assignment_id
            yield Pair(
                a, b, deployment["id"], x["artifact_sha256"], y["artifact_sha256"], x["artifact_size"],
                assignment_a, assignment_b,
            )  # fmt: skip
            ok(client.post(f"/api/v1/deployments/{deployment['id']}/cancel", json={"reason": "test over"}))


def test_download_without_or_with_a_foreign_grant_is_refused_and_audited(e2e: E2EStack, pair: Pair) -> None:
    """Transfer takes the node from the certificate and lets it have only the blob of a grant the scheduler
    made for that node: no grant, the other node's grant for the same blob, and the node's own grant for
    another blob are refused; the node's own grant for its blob works (the refusals are not an accident of
    this client)."""
    own, foreign = pair.assignment_a.download_grant, pair.assignment_b.download_grant
    with node_channel(e2e.transfer_address, "transfer", NodeIdentity.of(pair.a)) as channel:
        assert refusal(lambda: download(channel, pair.sha_x, "")) == grpc.StatusCode.PERMISSION_DENIED
        assert refusal(lambda: download(channel, pair.sha_x, foreign)) == grpc.StatusCode.PERMISSION_DENIED
        assert refusal(lambda: download(channel, pair.sha_y, own)) == grpc.StatusCode.PERMISSION_DENIED
        data = download(channel, pair.sha_x, own)
    assert len(data) == pair.size_x and hashlib.sha256(data).hexdigest() == pair.sha_x

    with e2e.client() as client:
        actor = f"agent:{pair.a.node_id}"
        denied = audit(client, "blob.download", "denied", actor=actor)
        reasons: dict[str, list[str]] = {record["target"]: [] for record in denied}
        for record in reversed(denied):  # oldest first
            reasons[record["target"]].append(record["reason"])
        assert len(denied) == 3, denied
        assert len(reasons[f"blob:{pair.sha_x}"]) == 2 and len(reasons[f"blob:{pair.sha_y}"]) == 1, reasons
        no_grant, other_node = reasons[f"blob:{pair.sha_x}"]
        assert "required" in no_grant, no_grant
        assert "another node" in other_node, other_node
        assert "another blob" in reasons[f"blob:{pair.sha_y}"][0], reasons
        # The other node's identity was never used: nothing is recorded in its name.
        assert audit(client, "blob.download", "denied", actor=f"agent:{pair.b.node_id}") == []


def test_reports_on_another_nodes_assignment_are_refused_and_audited(e2e: E2EStack, pair: Pair) -> None:
    """Node a sends progress, then a result, about node b's assignment over its own stream: each is refused
    with PERMISSION_DENIED (the stream is closed) and audited, and b's target stays as it was."""
    theirs = pair.assignment_b
    with e2e.client() as client:
        before = targets(client, pair.deployment_id)[pair.b.node_id]
        log_before = target_log(client, pair.deployment_id, pair.b.node_id)
        assert before["state"] == "assigned", before

        with connected(e2e, pair.a) as stream:
            progress = agent_pb.TaskProgress(
                assignment_id=theirs.assignment_id,
                attempt=theirs.attempt,
                state=agent_pb.TASK_STATE_DOWNLOADING,
                percent=50,
                log_lines=["forged progress"],
            )
            stream.send(progress=progress)
            assert stream.closed_with() == grpc.StatusCode.PERMISSION_DENIED, stream.details

        with connected(e2e, pair.a) as stream:
            result = agent_pb.TaskResult(
                assignment_id=theirs.assignment_id,
                attempt=theirs.attempt,
                state=agent_pb.TASK_STATE_SUCCEEDED,
                installed_version="1.0",
                message="forged result",
                log_tail=["forged result"],
            )
            stream.send(result=result)
            assert stream.closed_with() == grpc.StatusCode.PERMISSION_DENIED, stream.details

        denied = audit(
            client,
            "assignment.report",
            "denied",
            actor=f"agent:{pair.a.node_id}",
            target=f"assignment:{theirs.assignment_id}",
        )
        assert len(denied) == 2, denied
        assert targets(client, pair.deployment_id)[pair.b.node_id] == before
        assert target_log(client, pair.deployment_id, pair.b.node_id) == log_before
        assert "forged" not in log_before
        software = ok(client.get(f"/api/v1/servers/{pair.b.node_id}/software"))["items"]
        assert software == [], software


# --- certificates refused by the TLS handshake -------------------------------------------------------------------


def foreign_certificate(identity: NodeIdentity) -> x509.Certificate:
    """A node certificate for the same node id and key, issued by a CA of another installation that even
    has the same name as the real node CA."""
    foreign_ca = create_ca(NODE_CA_COMMON_NAME)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.node_id)]))
        .sign(identity.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    signed = sign_csr(
        foreign_ca, csr, identity.node_id, lifetime=timedelta(days=1), sans=[node_uri(identity.node_id)]
    )
    return signed.certificate


def test_certificates_of_another_ca_or_expired_fail_the_handshake(
    e2e: E2EStack, make_agent_host: Any
) -> None:
    """A certificate from another CA and an expired node certificate are refused by TLS itself, on the
    scheduler's agent port and on transfer: the call fails UNAVAILABLE before any service code runs. For
    the same reason these refusals cannot be in the audit log: no service ever sees the call. What the test
    checks instead is that nothing was recorded in the node's name, while a call that gets past the
    handshake (the node's real certificate, no grant) is recorded at once."""
    host: AgentHost = make_agent_host("deb", "sec-c")
    with e2e.client() as client:
        token = e2e.create_join_token(client)
        host.enroll_ok(token["token"], e2e.enroll_address, token["ca_fingerprint"])
    identity = NodeIdentity.of(host)
    # The node's own certificate signed again by the real node CA, valid from three days ago until yesterday.
    now = datetime.now(UTC)
    expired = identity.with_certificate(
        resigned_by_node_ca(
            e2e.pki_dir, identity.certificate, now - timedelta(days=3), now - timedelta(days=1)
        )
    )
    foreign = identity.with_certificate(foreign_certificate(identity))
    assert expired.certificate.issuer == identity.certificate.issuer
    assert foreign.certificate.issuer == identity.certificate.issuer  # same name, another key

    def renew(who: NodeIdentity) -> None:
        with node_channel(e2e.agent_address, "scheduler", who) as channel:
            agent_grpc.AgentServiceStub(channel).Renew(agent_pb.RenewRequest(), timeout=CALL_TIMEOUT)

    def fetch(who: NodeIdentity) -> None:
        with node_channel(e2e.transfer_address, "transfer", who) as channel:
            download(channel, "0" * 64, "")

    for who in (foreign, expired):
        assert refusal(lambda: renew(who)) == grpc.StatusCode.UNAVAILABLE  # noqa: B023
        assert refusal(lambda: fetch(who)) == grpc.StatusCode.UNAVAILABLE  # noqa: B023

    # The same node with its real certificate gets past the handshake on both ports: the service answers.
    assert refusal(lambda: renew(identity)) == grpc.StatusCode.INVALID_ARGUMENT  # an empty CSR
    assert refusal(lambda: fetch(identity)) == grpc.StatusCode.PERMISSION_DENIED  # no grant
    with e2e.client() as client:
        recorded = audit(client, "", "", actor=f"agent:{identity.node_id}")
    assert [(r["action"], r["result"]) for r in recorded] == [("blob.download", "denied")], recorded
