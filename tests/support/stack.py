"""Starts the real auth gRPC server (mTLS, port 0) and the real gateway app against it, in-process."""

from __future__ import annotations

import asyncio
import itertools
import shlex
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from convoy.agent.v1 import agent_pb2 as agent_pb
from convoy.agent.v1 import agent_pb2_grpc as agent_grpc
from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from devstack.postgres import LocalPostgres
from services.auth.config import AuthSettings
from services.auth.models import SCHEMA
from services.auth.server import AuthProcess, build
from services.auth.signing import create_key_file
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.kit import pki
from services.kit.migrations import migrate
from services.kit.settings import ServiceSettings
from services.kit.tls import MESSAGE_OPTIONS, open_channel

__all__ = [
    "ADMIN_PASSWORD",
    "SERVICE_CERTIFICATES",
    "ServiceStack",
    "service_settings",
    "AuthStack",
    "fresh_database",
    "start_auth",
    "start_fresh_auth",
    "gateway_client",
    "auth_settings",
    "isolated_gateway",
    "superuser_connection",
    "NodeIdentity",
    "node_csr",
    "create_join_token",
    "redeem_join_token",
    "enroll_node",
    "fresh_ip",
    "enroll_with_command",
]

ADMIN_PASSWORD = "admin-test-password"
# The certificates a test PKI holds: the services call one another (and the tests call them) with these.
SERVICE_CERTIFICATES = ("auth", "gateway", "inventory", "catalog", "scheduler", "transfer")


async def fresh_database(
    postgres: LocalPostgres,
    prefix: str,
    migrations: tuple[tuple[str, str], ...] = (("services.auth", SCHEMA),),
) -> str:
    """A new database for one test module, migrated for each (package, schema) given; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(postgres.create_database, name)
    url = postgres.url(name)
    for package, schema in migrations:
        await asyncio.to_thread(migrate, url, package, schema)
    return url


def service_settings(database_url: str, pki_dir: Path, /, **values: Any) -> dict[str, Any]:
    """A service's settings under test (dev mode, port 0, no drain, a short grace period), then `values`."""
    defaults: dict[str, Any] = {
        "env": "dev",
        "database_url": database_url,
        "pki_dir": pki_dir,
        "listen": "127.0.0.1:0",
        "drain_seconds": 0,
        "shutdown_grace_seconds": 1,
    }
    return {**defaults, **values}


class ServiceStack:
    """A service process started in-process on port 0: its address, and mTLS channels to it."""

    port: int
    settings: ServiceSettings

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self, name: str = "gateway") -> grpc.aio.Channel:
        """An mTLS channel presenting the certificate `name` from the test PKI."""
        return open_channel(self.target, self.settings.tls_files(name))


def auth_settings(database_url: str, pki_dir: Path, key_file: Path, **overrides: Any) -> AuthSettings:
    create_key_file(key_file)
    values: dict[str, Any] = {
        "jwt_key_file": key_file,
        # Cheap hashes keep the suite fast; the OWASP profile is exercised by its own test.
        "argon2_memory_kib": 64,
        "argon2_time_cost": 1,
        "throttle_address_failures": 1000,
    }
    return AuthSettings(**service_settings(database_url, pki_dir, **{**values, **overrides}))


@dataclass
class AuthStack(ServiceStack):
    process: AuthProcess
    port: int
    settings: AuthSettings
    pki_dir: Path


@asynccontextmanager
async def start_auth(settings: AuthSettings) -> AsyncIterator[AuthStack]:
    process = build(settings)
    port = await process.server.start()
    await process.users.ensure_admin("admin", ADMIN_PASSWORD, reset=True)
    try:
        yield AuthStack(process, port, settings, settings.pki_dir)  # type: ignore[arg-type]
    finally:
        await process.server.stop()
        await process.db.close()


@asynccontextmanager
async def start_fresh_auth(
    postgres: LocalPostgres, pki_dir: Path, key_file: Path, **overrides: Any
) -> AsyncIterator[AuthStack]:
    """A real auth server over mTLS on a migrated database of its own, signing with a new key in `key_file`."""
    url = await fresh_database(postgres, "auth")
    async with start_auth(auth_settings(url, pki_dir, key_file, **overrides)) as stack:
        yield stack


@asynccontextmanager
async def gateway_client(
    auth_target: str, pki_dir: Path, *, client_address: str = "127.0.0.1", **targets: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client wired to the real gateway app, whose lifespan (channels, keys) runs for real.

    `targets` point the gateway at other services, e.g. inventory_target="127.0.0.1:PORT".
    """
    settings = GatewaySettings(env="dev", pki_dir=pki_dir, auth_target=auth_target, **targets)
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        await _wait_for_keys(app)
        transport = httpx.ASGITransport(app=app, client=(client_address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


async def _wait_for_keys(app: FastAPI, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while app.state.upstreams.verifier is None:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the gateway did not load the token keys from auth")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def isolated_gateway(
    postgres: LocalPostgres,
    pki_dir: Path,
    workdir: Path,
    *,
    client_address: str = "127.0.0.1",
    **overrides: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A gateway client on an auth server and database of its own (for tests that damage or tune them)."""
    url = await fresh_database(postgres, "auth")
    settings = auth_settings(url, pki_dir, workdir / "jwt.pem", **overrides)
    async with start_auth(settings) as stack:
        async with gateway_client(stack.target, pki_dir, client_address=client_address) as client:
            yield client, url


@asynccontextmanager
async def superuser_connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection that bypasses the services, as someone with database rights would."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        yield connection
    finally:
        await connection.close()


@dataclass(frozen=True)
class NodeIdentity:
    """What an enrolled agent holds: its node id, its own key, the certificate auth signed, the pinned CA."""

    node_id: str
    key: ec.EllipticCurvePrivateKey
    certificate_pem: bytes
    ca_pem: bytes

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem)

    def channel(self, target: str, server_name: str) -> grpc.aio.Channel:
        """A mutual-TLS channel as the agent opens it: the pinned CA, the service's certificate name."""
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem, private_key=self.key_pem, certificate_chain=self.certificate_pem
        )
        options = [*MESSAGE_OPTIONS, ("grpc.ssl_target_name_override", server_name)]
        return grpc.aio.secure_channel(target, credentials, options=options)


def node_csr(key: ec.EllipticCurvePrivateKey, common_name: str = "admin") -> str:
    """A CSR as an agent (or an impostor) writes it; whatever identity it asks for is ignored."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def create_join_token(
    auth: AuthStack, access_token: str, **fields: Any
) -> auth_pb.CreateJoinTokenResponse:
    """A join token made by the user of `access_token`, through the gateway's certificate as in production."""
    async with auth.channel("gateway") as channel:
        return await auth_grpc.EnrollmentServiceStub(channel).CreateJoinToken(
            auth_pb.CreateJoinTokenRequest(**fields), metadata=_bearer(access_token), timeout=10
        )


async def redeem_join_token(
    auth: AuthStack,
    token: str,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    hostname: str = "node-under-test",
    peer_address: str = "",
    metadata: tuple[tuple[str, str], ...] = (),
) -> tuple[NodeIdentity, auth_pb.RedeemJoinTokenResponse]:
    """Redeems `token` the way the scheduler's agent edge does, for a fresh (or the given) node key."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    request = auth_pb.RedeemJoinTokenRequest(
        token=token, csr_pem=node_csr(key), hostname=hostname, peer_address=peer_address
    )
    async with auth.channel("scheduler") as channel:
        reply = await auth_grpc.EnrollmentServiceStub(channel).RedeemJoinToken(
            request, metadata=metadata, timeout=10
        )
    node = NodeIdentity(reply.node_id, key, reply.certificate_pem.encode(), reply.ca_certificate_pem.encode())
    return node, reply


async def enroll_node(auth: AuthStack, access_token: str, **fields: Any) -> NodeIdentity:
    """A node enrolled with a join token of its own, as an agent ends up after `convoy-agent enroll`."""
    created = await create_join_token(auth, access_token, **fields)
    node, _ = await redeem_join_token(auth, created.token)
    return node


_next_ip = itertools.count(1)


def fresh_ip() -> str:
    """A server address no other in this test session has (inventory keeps live addresses unique)."""
    n = next(_next_ip)
    return f"10.{uuid.uuid4().int % 200 + 20}.{n // 250}.{n % 250 + 1}"


async def enroll_with_command(command: str, pki_dir: Path, ip_address: str) -> NodeIdentity:
    """Does what the join command the gateway prints tells an agent to: pin the CA by its fingerprint, dial
    the address, enroll with the token (as a deb node at `ip_address`)."""
    words = shlex.split(command)
    assert words[:2] == ["convoy-agent", "enroll"]
    options = dict(zip(words[2::2], words[3::2], strict=True))
    ca_pem = (pki_dir / "ca.pem").read_bytes()
    ca = x509.load_pem_x509_certificate(ca_pem)
    assert options["--ca-fingerprint"] == "sha256:" + ca.fingerprint(hashes.SHA256()).hex()
    key = ec.generate_private_key(ec.SECP256R1())
    facts = agent_pb.Facts(
        hostname=f"node-{uuid.uuid4().hex[:8]}",
        ip_addresses=[ip_address],
        os_id="debian",
        package_family=agent_pb.PACKAGE_FAMILY_DEB,
        arch="x86_64",
    )
    request = agent_pb.EnrollRequest(token=options["--token"], csr_pem=node_csr(key), facts=facts)
    # Before enrollment the agent has no certificate: it trusts the pinned CA and presents nothing.
    credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    pinned = [*MESSAGE_OPTIONS, ("grpc.ssl_target_name_override", "scheduler")]
    async with grpc.aio.secure_channel(options["--server"], credentials, options=pinned) as channel:
        reply = await agent_grpc.AgentServiceStub(channel).Enroll(request, timeout=10)
    return NodeIdentity(reply.node_id, key, reply.certificate_pem.encode(), ca_pem)


def resigned_by_node_ca(
    pki_dir: Path, certificate: x509.Certificate, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    """The node certificate again, with every extension kept and signed by the real node CA, but valid from
    `not_before` to `not_after`: an expired certificate, or one an earlier holder of the node id kept."""
    node_ca = pki.load_certified_key(pki_dir / "node-ca.pem", pki_dir / "node-ca-key.pem")
    assert node_ca.key is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(certificate.subject)
        .issuer_name(node_ca.certificate.subject)
        .public_key(certificate.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension in certificate.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(node_ca.key, hashes.SHA256())


def earlier_certificate(
    pki_dir: Path, node_id: str, key: ec.EllipticCurvePrivateKey, age: timedelta
) -> bytes:
    """A node certificate the node CA signed `age` ago (valid for days more), as an earlier holder of the
    node id still has it."""
    node_ca = pki.load_certified_key(pki_dir / "node-ca.pem", pki_dir / "node-ca-key.pem")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    issued = pki.sign_csr(node_ca, csr, node_id, lifetime=timedelta(hours=72), sans=[pki.node_uri(node_id)])
    now = datetime.now(UTC)
    earlier = resigned_by_node_ca(pki_dir, issued.certificate, now - age, now + timedelta(hours=70))
    return earlier.public_bytes(serialization.Encoding.PEM)
