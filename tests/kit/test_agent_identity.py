"""Who calls, told by the certificate alone: a certificate the configured node CA issued makes an agent,
whatever that CA is named, and any other one a service; agents never pass as services; each port trusts
only the CAs it is given."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from services.kit import pki
from services.kit.context import USER_ROLES, current_call, require_agent, require_caller
from services.kit.grpc_server import GrpcServer
from services.kit.settings import ServiceSettings
from services.kit.tls import load_node_ca, server_credentials
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


def identity_settings(pki_dir: Path, **values: object) -> IdentitySettings:
    return IdentitySettings(
        env="dev", pki_dir=pki_dir, listen="127.0.0.1:0", drain_seconds=0, shutdown_grace_seconds=1, **values
    )


def grpc_server(settings: IdentitySettings) -> GrpcServer:
    server = GrpcServer(settings)
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(behaviour)
        for name, behaviour in (("Whoami", whoami), ("AsService", as_service), ("AsAgent", as_agent))
    }
    server.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    return server


@contextlib.asynccontextmanager
async def identity_server(pki_dir: Path) -> AsyncIterator[Ports]:
    """A server wired as transfer (listen port) and the scheduler (node and enrollment ports) wire theirs."""
    settings = identity_settings(pki_dir)
    files, node_ca = settings.tls_files(), load_node_ca(settings)
    assert files is not None and node_ca is not None
    server = grpc_server(settings)
    server.accept_nodes(node_ca)
    nodes = server.add_port("127.0.0.1:0", server_credentials(files, client_roots=node_ca.pem))
    enroll = server.add_port("127.0.0.1:0", server_credentials(files, require_client_auth=False))
    mixed = await server.start()
    try:
        yield Ports(*(f"127.0.0.1:{port}" for port in (mixed, nodes, enroll)))
    finally:
        await server.stop()


@pytest.fixture(scope="module")
async def ports(pki_dir: Path) -> AsyncIterator[Ports]:
    async with identity_server(pki_dir) as served:
        yield served


# Names an operator's own PKI may well use: the node CA is not called "Convoy node CA", and the service
# CA is, so an issuer name would call every node a service and every service a node.
RENAMED_NODE_CA = "Fleet clients CA"


@pytest.fixture(scope="module")
def renamed_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CAs named as above; `write_pki_dir` keeps them and issues the service certificates from them."""
    directory = tmp_path_factory.mktemp("renamed-pki")
    for stem, common_name in ((pki.CA_STEM, pki.NODE_CA_COMMON_NAME), (pki.NODE_CA_STEM, RENAMED_NODE_CA)):
        ca = pki.create_ca(common_name)
        (directory / f"{stem}.pem").write_bytes(ca.cert_pem())
        (directory / f"{stem}-key.pem").write_bytes(ca.key_pem())
    pki.write_pki_dir(directory, ["transfer", "scheduler"])
    return directory


@pytest.fixture(scope="module")
async def renamed_ports(renamed_pki_dir: Path) -> AsyncIterator[Ports]:
    async with identity_server(renamed_pki_dir) as served:
        yield served


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


async def test_nodes_of_a_node_ca_with_any_name_are_agents_and_never_services(
    renamed_pki_dir: Path, renamed_ports: Ports
) -> None:
    node_ca = pki.load_certified_key(renamed_pki_dir / "node-ca.pem", renamed_pki_dir / "node-ca-key.pem")
    node_id = str(uuid.uuid4())
    client = node_client(node_ca, node_id)

    for target in (renamed_ports.mixed, renamed_ports.nodes):
        assert await call(renamed_pki_dir, target, client) == f"agent:{node_id}:agent"
    assert await call(renamed_pki_dir, renamed_ports.mixed, client, "AsAgent") == node_id
    failure = await refused(renamed_pki_dir, renamed_ports.mixed, client, "AsService")
    assert failure.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_certificate_whose_issuer_is_named_convoy_node_ca_is_no_agent_unless_the_node_ca_issued_it(
    renamed_pki_dir: Path, renamed_ports: Ports
) -> None:
    client = service_client(renamed_pki_dir, "scheduler")
    issuer = x509.load_pem_x509_certificate(client.cert_pem or b"").issuer

    assert issuer.rfc4514_string() == f"CN={pki.NODE_CA_COMMON_NAME}"
    assert await call(renamed_pki_dir, renamed_ports.mixed, client) == "service:scheduler:service"
    failure = await refused(renamed_pki_dir, renamed_ports.mixed, client, "AsAgent")
    assert failure.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_node_ca_impostor_is_refused_by_the_handshake_whatever_name_it_copies(
    renamed_pki_dir: Path, renamed_ports: Ports
) -> None:
    for name in (RENAMED_NODE_CA, pki.NODE_CA_COMMON_NAME):
        impostor = node_client(pki.create_ca(name), str(uuid.uuid4()))
        for target in (renamed_ports.mixed, renamed_ports.nodes):
            failure = await refused(renamed_pki_dir, target, impostor)
            assert failure.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_process_that_loads_no_node_ca_takes_no_node_certificate(
    pki_dir: Path, node_ca: pki.CertifiedKey
) -> None:
    server = grpc_server(identity_settings(pki_dir, node_ca=None))
    target = f"127.0.0.1:{await server.start()}"
    try:
        failure = await refused(pki_dir, target, node_client(node_ca, str(uuid.uuid4())))
        assert failure.code() == grpc.StatusCode.UNAVAILABLE
        assert (
            await call(pki_dir, target, service_client(pki_dir, "scheduler")) == "service:scheduler:service"
        )
    finally:
        await server.stop()
