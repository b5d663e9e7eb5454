"""The node CA auth signs agents' client certificates with, and the service CA agents pin."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.auth.config import AuthSettings
from services.kit.errors import FailedPrecondition, InvalidArgument
from services.kit.pki import CertifiedKey, fingerprint, node_uri, sign_csr
from services.kit.tls import load_node_ca

__all__ = ["NodeAuthority", "SignedCertificate", "require_authority"]


@dataclass(frozen=True)
class SignedCertificate:
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "x")

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc


@dataclass(frozen=True)
class NodeAuthority:
    """Signs node certificates for `lifetime`; hands out the service CA (PEM) that agents pin."""

    node_ca: CertifiedKey
    service_ca_pem: bytes
    lifetime: timedelta

    @classmethod
    def load(cls, settings: AuthSettings) -> NodeAuthority | None:
        """None when this server has no node CA (dev without a PKI): it then enrolls no nodes."""
        files = settings.tls_files()
        if files is None or settings.node_ca_key is None:
            return None
        # Signing nodes with the service CA would make every node certificate a service certificate:
        # load_node_ca refuses that.
        node_ca = load_node_ca(settings, key=settings.node_ca_key)
        if node_ca is None:
            return None
        return cls(node_ca.authority, files.ca.read_bytes(), timedelta(hours=settings.node_cert_hours))

    @property
    def ca_fingerprint(self) -> str:
        return fingerprint(x509.load_pem_x509_certificate(self.service_ca_pem))

    def sign(self, csr_pem: bytes, node_id: uuid.UUID) -> SignedCertificate:
        """A client-only certificate naming the node; the CSR contributes its public key and nothing else."""
        name = str(node_id)
        try:
            signed = sign_csr(self.node_ca, csr_pem, name, lifetime=self.lifetime, sans=[node_uri(name)])
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
        return SignedCertificate(signed.certificate)


def require_authority(authority: NodeAuthority | None) -> NodeAuthority:
    if authority is None:
        raise FailedPrecondition(
            "this auth server has no node CA (CONVOY_AUTH_NODE_CA and CONVOY_AUTH_NODE_CA_KEY), "
            "so it cannot enroll nodes"
        )
    return authority
