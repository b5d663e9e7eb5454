"""Who calls, told by the certificate alone: a node certificate makes an agent, a service certificate a
service; agents never pass as services; each port trusts only the CAs it is given."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.kit import pki
from services.kit.context import USER_ROLES, current_call, require_agent, require_caller
from services.kit.grpc_server import GrpcServer
from services.kit.settings import ServiceSettings
from services.kit.tls import server_credentials
from tests.support.stack import node_csr

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVICE = "convoy.test.v1.Identity"


class IdentitySettings(ServiceSettings):
    service_name = "transfer"


async def whoami(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    peer = current_call().peer
    return f"{peer.kind}:{peer.subject}:{peer.role}".encode() if peer else b"anonymous"


async def as_service(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return require_caller(*USER_ROLES).label.encode()


async def as_agent(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return require_agent().encode()


@dataclass
class Ports:
    mixed: str  # service CA + node CA, as transfer
    nodes: str  # node CA only, as the scheduler's agent port
    enroll: str  # no client certificate, as the scheduler's enrollment port


@pytest.fixture(scope="module")
async def ports(pki_dir: Path) -> AsyncIterator[Ports]:
    settings = IdentitySettings(
        env="dev", pki_dir=pki_dir, listen="127.0.0.1:0", drain_seconds=0, shutdown_grace_seconds=1
    )
    files = settings.tls_files()
    assert files is not None and settings.node_ca is not None
    node_ca_pem = settings.node_ca.read_bytes()
    server = GrpcServer(settings)
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(behaviour)
        for name, behaviour in (("Whoami", whoami), ("AsService", as_service), ("AsAgent", as_agent))
    }
    server.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.trust_client_roots(files.ca.read_bytes() + node_ca_pem)
    nodes = server.add_port("127.0.0.1:0", server_credentials(files, client_roots=node_ca_pem))
    enroll = server.add_port("127.0.0.1:0", server_credentials(files, require_client_auth=False))
    mixed = await server.start()
    yield Ports(*(f"127.0.0.1:{port}" for port in (mixed, nodes, enroll)))
    await server.stop()


@dataclass(frozen=True)
class Client:
    cert_pem: bytes | None = None
    key_pem: bytes | None = None


def service_client(pki_dir: Path, name: str) -> Client:
    return Client((pki_dir / f"{name}.pem").read_bytes(), (pki_dir / f"{name}-key.pem").read_bytes())


def node_client(ca: pki.CertifiedKey, node_id: str, *, lifetime: timedelta = timedelta(hours=1)) -> Client:
    key = ec.generate_private_key(ec.SECP256R1())
    node = pki.sign_csr(ca, node_csr(key).encode(), node_id, lifetime=lifetime, sans=[pki.node_uri(node_id)])
    return Client(node.cert_pem(), pki.CertifiedKey(node.certificate, key).key_pem())


@pytest.fixture(scope="module")
def node_ca(pki_dir: Path) -> pki.CertifiedKey:
    return pki.load_certified_key(pki_dir / "node-ca.pem", pki_dir / "node-ca-key.pem")


async def call(pki_dir: Path, target: str, client: Client, method: str = "Whoami") -> str:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(pki_dir / "ca.pem").read_bytes(),
        private_key=client.key_pem,
        certificate_chain=client.cert_pem,
    )
    options = [("grpc.ssl_target_name_override", "transfer")]
    async with grpc.aio.secure_channel(target, credentials, options=options) as channel:
        reply = await channel.unary_unary(f"/{SERVICE}/{method}")(b"", timeout=10)
    return reply.decode()


async def refused(pki_dir: Path, target: str, client: Client, method: str = "Whoami") -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call(pki_dir, target, client, method)
    return failure.value


async def test_a_node_certificate_makes_an_agent_named_by_its_node_id(
    pki_dir: Path, ports: Ports, node_ca: pki.CertifiedKey
) -> None:
    node_id = str(uuid.uuid4())
    client = node_client(node_ca, node_id)

    assert await call(pki_dir, ports.mixed, client) == f"agent:{node_id}:agent"
    assert await call(pki_dir, ports.nodes, client) == f"agent:{node_id}:agent"
    assert await call(pki_dir, ports.mixed, client, "AsAgent") == node_id


async def test_a_service_certificate_stays_a_service(pki_dir: Path, ports: Ports) -> None:
    client = service_client(pki_dir, "scheduler")

    assert await call(pki_dir, ports.mixed, client) == "service:scheduler:service"
    assert await call(pki_dir, ports.mixed, client, "AsService") == "service:scheduler"


async def test_an_agent_never_passes_as_a_service(
    pki_dir: Path, ports: Ports, node_ca: pki.CertifiedKey
) -> None:
    failure = await refused(pki_dir, ports.mixed, node_client(node_ca, str(uuid.uuid4())), "AsService")

    assert failure.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_service_is_not_an_agent(pki_dir: Path, ports: Ports) -> None:
    failure = await refused(pki_dir, ports.mixed, service_client(pki_dir, "scheduler"), "AsAgent")

    assert (failure.code(), failure.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "a node certificate is required",
    )


async def test_the_node_port_refuses_service_certificates(pki_dir: Path, ports: Ports) -> None:
    failure = await refused(pki_dir, ports.nodes, service_client(pki_dir, "scheduler"))

    assert failure.code() == grpc.StatusCode.UNAVAILABLE


async def test_the_enrollment_port_needs_no_client_certificate(pki_dir: Path, ports: Ports) -> None:
    assert await call(pki_dir, ports.enroll, Client()) == "anonymous"
    failure = await refused(pki_dir, ports.enroll, Client(), "AsAgent")
    assert failure.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_node_certificate_from_another_ca_is_refused_by_the_handshake(
    pki_dir: Path, ports: Ports
) -> None:
    impostor_ca = pki.create_ca(pki.NODE_CA_COMMON_NAME)

    for target in (ports.mixed, ports.nodes):
        failure = await refused(pki_dir, target, node_client(impostor_ca, str(uuid.uuid4())))
        assert failure.code() == grpc.StatusCode.UNAVAILABLE


async def test_an_expired_node_certificate_is_refused_by_the_handshake(
    pki_dir: Path, ports: Ports, node_ca: pki.CertifiedKey
) -> None:
    expired = node_client(node_ca, str(uuid.uuid4()), lifetime=timedelta(minutes=-1))

    failure = await refused(pki_dir, ports.nodes, expired)

    assert failure.code() == grpc.StatusCode.UNAVAILABLE
