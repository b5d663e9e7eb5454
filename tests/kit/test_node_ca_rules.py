"""The PKI rules services apply to nodes: a certificate of an earlier enrollment is replaced, and the node CA
must be a CA of its own, which every process that loads it checks at start."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from services.kit import pki
from services.kit.settings import ServiceSettings
from services.kit.tls import load_node_ca


class NodeTrustingSettings(ServiceSettings):
    service_name = "transfer"


def node_certificate(ca: pki.CertifiedKey) -> pki.CertifiedKey:
    return pki.issue_certificate(ca, "node", sans=["node"], server=False, client=True)


def test_a_certificate_signed_before_the_latest_enrollment_is_replaced() -> None:
    ca = pki.create_ca(pki.NODE_CA_COMMON_NAME)
    certificate = node_certificate(ca).certificate
    signed_at = certificate.not_valid_before_utc + pki.CLOCK_SKEW

    assert not pki.replaced_by_enrollment(certificate, None)
    assert not pki.replaced_by_enrollment(certificate, signed_at)  # the enrollment's own certificate
    assert not pki.replaced_by_enrollment(certificate, signed_at + timedelta(seconds=59))
    assert pki.replaced_by_enrollment(certificate, signed_at + timedelta(seconds=61))
    assert pki.replaced_by_enrollment(certificate, datetime.now(UTC) + timedelta(hours=1))


def test_the_node_ca_must_differ_from_the_service_ca_in_certificate_subject_and_key() -> None:
    service_ca = pki.create_ca(pki.CA_COMMON_NAME)
    node_ca = pki.create_ca(pki.NODE_CA_COMMON_NAME)
    pki.check_distinct_cas(service_ca.certificate, node_ca.certificate)

    same_name = pki.create_ca(pki.CA_COMMON_NAME)
    same_key = reissued_with_key(service_ca, pki.NODE_CA_COMMON_NAME)
    for other in (service_ca.certificate, same_name.certificate, same_key):
        with pytest.raises(ValueError, match="node CA must be a CA of its own"):
            pki.check_distinct_cas(service_ca.certificate, other)


def reissued_with_key(ca: pki.CertifiedKey, common_name: str) -> x509.Certificate:
    """Another self-signed CA certificate, under another name, for the same key."""
    assert ca.key is not None
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca.key, hashes.SHA256())
    )


@pytest.fixture
def own_pki_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    pki.write_pki_dir(directory, ["transfer"])
    return directory


def test_a_process_loads_the_node_ca_it_is_given_with_its_key_only_when_asked(own_pki_dir: Path) -> None:
    settings = NodeTrustingSettings(env="dev", pki_dir=own_pki_dir)
    on_disk = pki.load_certified_key(own_pki_dir / "node-ca.pem", None).certificate

    trusted = load_node_ca(settings)
    signing = load_node_ca(settings, key=own_pki_dir / "node-ca-key.pem")

    assert trusted is not None and signing is not None
    assert (trusted.certificate, trusted.authority.key) == (on_disk, None)
    assert signing.authority.key is not None
    assert load_node_ca(NodeTrustingSettings(env="dev")) is None


def test_a_process_refuses_to_start_with_the_service_ca_as_node_ca(own_pki_dir: Path) -> None:
    shutil.copy(own_pki_dir / "ca.pem", own_pki_dir / "node-ca.pem")

    with pytest.raises(ValueError, match="node CA must be a CA of its own"):
        load_node_ca(NodeTrustingSettings(env="dev", pki_dir=own_pki_dir))


def test_a_node_ca_that_cannot_be_loaded_is_named_at_start(own_pki_dir: Path) -> None:
    settings = NodeTrustingSettings(env="dev", pki_dir=own_pki_dir)
    (own_pki_dir / "node-ca.pem").unlink()
    with pytest.raises(ValueError, match=r"cannot load the node CA \(.*node-ca\.pem\)"):
        load_node_ca(settings)

    (own_pki_dir / "node-ca.pem").write_bytes(pki.create_ca("Another node CA").cert_pem())
    with pytest.raises(ValueError, match="is not the private key of"):
        load_node_ca(settings, key=own_pki_dir / "node-ca-key.pem")
