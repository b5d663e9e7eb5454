"""Private CA toolkit: ECDSA P-256 keys and SHA-256 certificates for Convoy's mutual TLS."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_COMMON_NAME",
    "CA_STEM",
    "NODE_CA_COMMON_NAME",
    "NODE_CA_STEM",
    "DEFAULT_HOSTS",
    "CLOCK_SKEW",
    "ENROLLMENT_SLACK",
    "REPLACED_CERTIFICATE",
    "CertifiedKey",
    "check_csr",
    "check_distinct_cas",
    "create_ca",
    "fingerprint",
    "issue_certificate",
    "load_certified_key",
    "main",
    "node_uri",
    "replaced_by_enrollment",
    "sign_csr",
    "write_pki_dir",
]

CA_COMMON_NAME = "Convoy dev CA"
CA_STEM = "ca"
# The node CA signs agents' client certificates only: a service trusting it accepts nodes, never services.
# This is only the name `init` gives it: an operator's node CA may be named anything, and services tell a
# node from a service by the node CA certificate they load (services.kit.tls.load_node_ca), never by a name.
NODE_CA_COMMON_NAME = "Convoy node CA"
NODE_CA_STEM = "node-ca"
NODE_URI_PREFIX = "urn:convoy:node:"
DEFAULT_HOSTS: Sequence[str] = ("localhost", "127.0.0.1", "::1")
# Certificates start a little in the past so a peer whose clock lags ours still accepts them at once.
CLOCK_SKEW = timedelta(minutes=5)
# A node certificate that starts earlier than this before the node's latest enrollment was signed for an
# earlier holder of the node id: it is refused although it has not expired. The certificate of the
# enrollment itself starts CLOCK_SKEW before it; the extra minute covers clocks of different hosts.
ENROLLMENT_SLACK = CLOCK_SKEW + timedelta(seconds=60)
REPLACED_CERTIFICATE = "this certificate was replaced by a later enrollment"
# Names in a PKI directory become file names and DNS SANs: one lowercase DNS label, and never the CA's files.
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RESERVED_NAMES = frozenset({CA_STEM, NODE_CA_STEM})


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate and, when we generated the key pair ourselves, its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey | None

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS8 PEM; the files holding it are protected by mode 0600."""
        if self.key is None:
            raise ValueError(
                "no private key: this certificate was issued for a CSR, the requester holds the key"
            )
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def create_ca(common_name: str, *, days: int = 3650) -> CertifiedKey:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    builder = (
        _builder(name, name, key.public_key(), timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
    )
    return CertifiedKey(builder.sign(key, hashes.SHA256()), key)


def issue_certificate(
    ca: CertifiedKey,
    common_name: str,
    *,
    sans: Sequence[str] = (),
    server: bool = True,
    client: bool = True,
    lifetime: timedelta = timedelta(days=365),
) -> CertifiedKey:
    """A fresh key pair and its certificate for a service: TLS server, client, or both."""
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if not usages:
        raise ValueError("a certificate must allow server use, client use, or both")
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _sign_leaf(ca, common_name, key.public_key(), sans=sans, usages=usages, lifetime=lifetime)
    return CertifiedKey(certificate, key)


def sign_csr(
    ca: CertifiedKey,
    csr_pem: bytes,
    common_name: str,
    *,
    lifetime: timedelta,
    sans: Sequence[str] = (),
) -> CertifiedKey:
    """A client-only certificate for the key in a CSR.

    Only the CSR's public key is used: the identity (CN and SANs) is what the caller decided, never what the
    requester asked for, so a node cannot enrol itself as "admin" or as another node.
    """
    public_key = _verified_csr_key(csr_pem)
    certificate = _sign_leaf(
        ca,
        common_name,
        public_key,
        sans=[common_name, *sans],
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
        lifetime=lifetime,
    )
    return CertifiedKey(certificate, None)


def check_csr(csr_pem: bytes) -> None:
    """Raises ValueError for a CSR that sign_csr would refuse (unreadable, forged, or a weak key)."""
    _verified_csr_key(csr_pem)


def load_certified_key(cert_path: Path, key_path: Path | None) -> CertifiedKey:
    """Read a PEM certificate and, optionally, the PEM private key that must belong to it."""
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if key_path is None:
        return CertifiedKey(certificate, None)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        # ValueError like any other unusable PEM: the file is bad input, not a programming error.
        raise ValueError(f"{key_path}: expected an EC private key, found {type(key).__name__}")  # noqa: TRY004
    if _spki(key.public_key()) != _spki(certificate.public_key()):
        raise ValueError(f"{key_path} is not the private key of {cert_path}")
    return CertifiedKey(certificate, key)


def fingerprint(certificate: x509.Certificate) -> str:
    return "sha256:" + certificate.fingerprint(hashes.SHA256()).hex()


def replaced_by_enrollment(certificate: x509.Certificate, enrolled_at: datetime | None) -> bool:
    """True when `certificate` was signed before the node's latest enrollment (`enrolled_at`): re-enrolling a
    node id hands it to a new holder, and the previous holder's certificates must stop working at once
    instead of when they expire. Renewed certificates start after the enrollment and keep working."""
    return enrolled_at is not None and certificate.not_valid_before_utc < enrolled_at - ENROLLMENT_SLACK


def check_distinct_cas(service_ca: x509.Certificate, node_ca: x509.Certificate) -> None:
    """Raises ValueError when the node CA is the service CA under another file name (same certificate,
    subject or key): a port trusting it for nodes would then accept every service as a node, and every
    certificate the service CA issued would also pass for one the node CA issued."""
    same = (
        service_ca == node_ca
        or service_ca.subject == node_ca.subject
        or _spki(service_ca.public_key()) == _spki(node_ca.public_key())
    )
    if same:
        raise ValueError(
            "the node CA must be a CA of its own, not the service CA (same certificate, subject or key); "
            "`python -m services.kit.pki init <pki dir>` creates node-ca.pem"
        )


def node_uri(node_id: str) -> str:
    """The URI SAN that names a node in its certificate, next to its id as the CN."""
    return NODE_URI_PREFIX + node_id


def write_pki_dir(
    directory: Path,
    names: Sequence[str],
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
) -> None:
    """Make sure `directory` holds the service CA, the node CA and a server+client certificate per name;
    existing files are kept."""
    for name in names:
        _check_name(name)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = _ensure_pair(directory, CA_STEM, functools.partial(create_ca, CA_COMMON_NAME))
    _ensure_pair(directory, NODE_CA_STEM, functools.partial(create_ca, NODE_CA_COMMON_NAME))
    for name in names:
        issue = functools.partial(issue_certificate, ca, name, sans=[name, *hosts])
        _ensure_pair(directory, name, issue, issuer=ca)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificatePublicKeyTypes,
    lifetime: timedelta,
    *,
    not_after_limit: datetime | None = None,
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    not_after = now + lifetime
    if not_after_limit is not None:
        not_after = min(not_after, not_after_limit)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _sign_leaf(
    ca: CertifiedKey,
    common_name: str,
    public_key: CertificatePublicKeyTypes,
    *,
    sans: Sequence[str],
    usages: Sequence[x509.ObjectIdentifier],
    lifetime: timedelta,
) -> x509.Certificate:
    ca_key = _ca_key(ca)
    # A certificate cannot outlive the CA that vouches for it: peers would reject the chain anyway.
    builder = (
        _builder(
            _name(common_name),
            ca.certificate.subject,
            public_key,
            lifetime,
            not_after_limit=ca.certificate.not_valid_after_utc,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(_authority_key_id(ca.certificate, ca_key), critical=False)
    )
    unique_sans = list(dict.fromkeys(sans))
    if unique_sans:
        general_names = [_general_name(entry) for entry in unique_sans]
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _ca_key(ca: CertifiedKey) -> ec.EllipticCurvePrivateKey:
    if ca.key is None:
        raise ValueError(
            f"cannot sign with CA {ca.certificate.subject.rfc4514_string()}: its key is not loaded"
        )
    return ca.key


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.AuthorityKeyIdentifier:
    """Point at the CA's own SKI so chain builders match it exactly; fall back to its key for foreign CAs."""
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _general_name(entry: str) -> x509.GeneralName:
    """IP addresses become IPAddress SANs, `scheme://` and `urn:` identities URIs, the rest DNS names."""
    try:
        return x509.IPAddress(ipaddress.ip_address(entry))
    except ValueError:
        pass
    if "://" in entry or entry.startswith("urn:"):
        return x509.UniformResourceIdentifier(entry)
    return x509.DNSName(entry)


def _verified_csr_key(csr_pem: bytes) -> CertificatePublicKeyTypes:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
        signature_ok = csr.is_signature_valid
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"unreadable certificate signing request: {exc}") from exc
    if not signature_ok:
        raise ValueError("certificate signing request signature does not match its content")
    _check_requester_key(public_key)
    return public_key


def _check_requester_key(public_key: CertificatePublicKeyTypes) -> None:
    """Refuse keys too weak to be worth a certificate."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.key_size >= 256:
        return
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048:
        return
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return
    raise ValueError(f"unsupported key in certificate signing request: {type(public_key).__name__}")


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name) or name in _RESERVED_NAMES:
        raise ValueError(
            f"invalid PKI name {name!r}: use one lowercase DNS label other than {CA_STEM!r} and {NODE_CA_STEM!r}"
        )


def _ensure_pair(
    directory: Path,
    stem: str,
    make: Callable[[], CertifiedKey],
    *,
    issuer: CertifiedKey | None = None,
) -> CertifiedKey:
    """Load `<stem>.pem` + `<stem>-key.pem`, or create both when neither exists."""
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    present = [path for path in (cert_path, key_path) if path.exists()]
    if len(present) == 2:
        existing = load_certified_key(cert_path, key_path)
        if issuer is not None:
            _check_issued_by(existing, issuer, cert_path)
        return existing
    if present:
        raise ValueError(f"{present[0]} exists without its pair; remove it so both are created again")
    created = make()
    _write_new(key_path, created.key_pem(), 0o600)
    _write_new(cert_path, created.cert_pem(), 0o644)
    return created


def _check_issued_by(leaf: CertifiedKey, ca: CertifiedKey, cert_path: Path) -> None:
    """A certificate left over from a previous CA would only fail later, at the first handshake."""
    try:
        leaf.certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise ValueError(f"{cert_path} was not issued by the CA next to it; remove it and its key") from exc


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file that appears complete or not at all, and never replaces one that exists."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
        # Unlike rename, link fails when a concurrent run has created the file in the meantime.
        os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.kit.pki", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create the CAs and service certificates that are missing")
    init.add_argument("directory", type=Path)
    init.add_argument("--names", required=True, help="comma-separated service names, e.g. auth,gateway")
    init.add_argument("--hosts", default=",".join(DEFAULT_HOSTS), help="extra SANs for every service")
    show = commands.add_parser("fingerprint", help="print the SHA-256 fingerprint of a PEM certificate")
    show.add_argument("certificate", type=Path)
    return parser


def _split(values: str) -> list[str]:
    return [value.strip() for value in values.split(",") if value.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            write_pki_dir(args.directory, _split(args.names), hosts=_split(args.hosts))
            cert_path = args.directory / "ca.pem"
        else:
            cert_path = args.certificate
        print(fingerprint(load_certified_key(cert_path, None).certificate))
    except (OSError, ValueError) as exc:
        parser.exit(1, f"{parser.prog}: {exc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
