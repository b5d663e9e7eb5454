"""PKI toolkit: the certificates it makes are accepted or refused by a real gRPC server with mutual TLS."""

import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.kit import pki

SERVICES = ("gateway", "scheduler")
SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki") / "pki"
    pki.write_pki_dir(directory, SERVICES)
    return directory


@pytest.fixture(scope="module")
def ca(pki_dir: Path) -> pki.CertifiedKey:
    return pki.load_certified_key(pki_dir / "ca.pem", pki_dir / "ca-key.pem")


async def start_health_server(cert_pem: bytes, key_pem: bytes, ca_pem: bytes) -> tuple[grpc.aio.Server, str]:
    """A health-only gRPC server that demands a client certificate from `ca_pem`, as every service does."""
    credentials = grpc.ssl_server_credentials(
        [(key_pem, cert_pem)], root_certificates=ca_pem, require_client_auth=True
    )
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
async def target(pki_dir: Path) -> AsyncIterator[str]:
    gateway = pki.load_certified_key(pki_dir / "gateway.pem", pki_dir / "gateway-key.pem")
    server, address = await start_health_server(
        gateway.cert_pem(), gateway.key_pem(), (pki_dir / "ca.pem").read_bytes()
    )
    yield address
    await server.stop(None)


async def check_health(target: str, ca_pem: bytes, client: pki.CertifiedKey, client_key_pem: bytes) -> int:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca_pem, private_key=client_key_pem, certificate_chain=client.cert_pem()
    )
    async with grpc.aio.secure_channel(target, credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response: health_pb2.HealthCheckResponse = await stub.Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
    return int(response.status)


def pkcs8_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_csr(key: ec.EllipticCurvePrivateKey, common_name: str, sans: list[str]) -> bytes:
    """A CSR as a greedy requester would write it: its own CN and SANs, and asking to become a CA."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(san) for san in sans]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


async def test_client_certificate_from_same_ca_is_served(target: str, pki_dir: Path) -> None:
    client = pki.load_certified_key(pki_dir / "scheduler.pem", pki_dir / "scheduler-key.pem")

    status = await check_health(target, (pki_dir / "ca.pem").read_bytes(), client, client.key_pem())

    assert status == SERVING


async def test_client_certificate_from_another_ca_is_refused(target: str, pki_dir: Path) -> None:
    stranger_ca = pki.create_ca("Somebody else's CA")
    client = pki.issue_certificate(stranger_ca, "scheduler", sans=["scheduler", "127.0.0.1"])

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await check_health(target, (pki_dir / "ca.pem").read_bytes(), client, client.key_pem())

    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_certificate_signed_from_csr_is_accepted_as_client(
    target: str, pki_dir: Path, ca: pki.CertifiedKey
) -> None:
    node_key = ec.generate_private_key(ec.SECP256R1())
    csr_pem = make_csr(node_key, "node-1", ["node-1"])
    client = pki.sign_csr(ca, csr_pem, "node-1", lifetime=timedelta(days=30))

    status = await check_health(target, ca.cert_pem(), client, pkcs8_pem(node_key))

    assert status == SERVING


async def test_certificate_signed_from_csr_cannot_serve_tls(pki_dir: Path, ca: pki.CertifiedKey) -> None:
    node_key = ec.generate_private_key(ec.SECP256R1())
    node = pki.sign_csr(ca, make_csr(node_key, "node-1", []), "127.0.0.1", lifetime=timedelta(days=1))
    server, address = await start_health_server(node.cert_pem(), pkcs8_pem(node_key), ca.cert_pem())
    client = pki.load_certified_key(pki_dir / "scheduler.pem", pki_dir / "scheduler-key.pem")

    try:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await check_health(address, ca.cert_pem(), client, client.key_pem())
    finally:
        await server.stop(None)

    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def test_sign_csr_ignores_the_identity_the_requester_asks_for(ca: pki.CertifiedKey) -> None:
    node_key = ec.generate_private_key(ec.SECP256R1())
    csr_pem = make_csr(node_key, "admin", ["admin", "gateway", "evil.example.com"])

    signed = pki.sign_csr(ca, csr_pem, "spiffe://convoy/node/n-17", lifetime=timedelta(days=1))

    certificate = signed.certificate
    extensions = certificate.extensions
    assert (
        certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        == "spiffe://convoy/node/n-17"
    )
    assert list(extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == [
        x509.UniformResourceIdentifier("spiffe://convoy/node/n-17")
    ]
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert certificate.public_key() == node_key.public_key()
    certificate.verify_directly_issued_by(ca.certificate)
    assert signed.key is None
    with pytest.raises(ValueError):
        signed.key_pem()


def test_sign_csr_uses_a_dns_san_for_a_plain_name(ca: pki.CertifiedKey) -> None:
    csr_pem = make_csr(ec.generate_private_key(ec.SECP256R1()), "admin", ["admin"])

    signed = pki.sign_csr(ca, csr_pem, "n-17.nodes.convoy", lifetime=timedelta(hours=1))

    sans = signed.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(sans) == [x509.DNSName("n-17.nodes.convoy")]


def test_tampered_csr_is_refused(ca: pki.CertifiedKey) -> None:
    csr = x509.load_pem_x509_csr(make_csr(ec.generate_private_key(ec.SECP256R1()), "admin", ["admin"]))
    der = csr.public_bytes(serialization.Encoding.DER)
    tampered = x509.load_der_x509_csr(der.replace(b"admin", b"admix")).public_bytes(
        serialization.Encoding.PEM
    )

    with pytest.raises(ValueError, match="signature"):
        pki.sign_csr(ca, tampered, "node-1", lifetime=timedelta(days=1))


def test_unparseable_csr_is_refused(ca: pki.CertifiedKey) -> None:
    with pytest.raises(ValueError):
        pki.sign_csr(ca, b"-----BEGIN CERTIFICATE REQUEST-----\nnope\n", "node-1", lifetime=timedelta(days=1))


def test_write_pki_dir_keeps_existing_files_and_protects_keys(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    pki.write_pki_dir(directory, SERVICES)
    first = {path.name: path.read_bytes() for path in directory.iterdir()}

    pki.write_pki_dir(directory, SERVICES)

    assert {path.name: path.read_bytes() for path in directory.iterdir()} == first
    assert sorted(first) == sorted(
        [
            "ca.pem",
            "ca-key.pem",
            "node-ca.pem",
            "node-ca-key.pem",
            "gateway.pem",
            "gateway-key.pem",
            "scheduler.pem",
            "scheduler-key.pem",
        ]
    )
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("ca-key.pem", "node-ca-key.pem", "gateway-key.pem", "scheduler-key.pem"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600


def test_write_pki_dir_adds_only_the_missing_names(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    pki.write_pki_dir(directory, ["auth"])
    ca_before = (directory / "ca.pem").read_bytes()

    pki.write_pki_dir(directory, ["auth", "transfer"])

    assert (directory / "ca.pem").read_bytes() == ca_before
    transfer = pki.load_certified_key(directory / "transfer.pem", directory / "transfer-key.pem")
    transfer.certificate.verify_directly_issued_by(
        pki.load_certified_key(directory / "ca.pem", None).certificate
    )


def test_load_certified_key_refuses_a_key_of_another_certificate(pki_dir: Path) -> None:
    with pytest.raises(ValueError, match="not the private key"):
        pki.load_certified_key(pki_dir / "gateway.pem", pki_dir / "scheduler-key.pem")


def test_cli_init_prints_the_ca_fingerprint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "pki"

    assert pki.main(["init", str(directory), "--names", "auth,gateway"]) == 0
    printed_by_init = capsys.readouterr().out
    assert pki.main(["fingerprint", str(directory / "ca.pem")]) == 0
    printed_by_fingerprint = capsys.readouterr().out

    ca_certificate = pki.load_certified_key(directory / "ca.pem", None).certificate
    expected = "sha256:" + ca_certificate.fingerprint(hashes.SHA256()).hex()
    assert printed_by_init == printed_by_fingerprint == expected + "\n"
    assert (directory / "gateway.pem").exists() and (directory / "auth-key.pem").exists()
