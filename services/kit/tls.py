"""gRPC credentials from our own PKI: mutual TLS for servers and channels, peer identity from certificates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from services.kit.client_metrics import client_metrics_interceptors
from services.kit.pki import CertifiedKey, check_distinct_cas, load_certified_key
from services.kit.settings import ServiceSettings, TlsFiles
from services.kit.telemetry import client_interceptors

__all__ = [
    "NodeCa",
    "load_node_ca",
    "server_credentials",
    "channel_credentials",
    "open_channel",
    "peer_common_name",
    "peer_certificate",
    "MESSAGE_OPTIONS",
    "SERVER_OPTIONS",
]

# Room for 1 MiB transfer chunks plus framing; everything else is far smaller.
MESSAGE_OPTIONS: Sequence[tuple[str, int]] = (
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
)
# Servers accept a client's keepalive pings every 10 s even without calls in flight: agents ping so that
# a download or a control stream over a dead link fails fast instead of hanging (they ping every 20 s).
# Servers ping too, so that a stream whose node vanished without a word (a cut link) ends within a minute
# and the node is shown offline.
SERVER_OPTIONS: Sequence[tuple[str, int]] = (
    *MESSAGE_OPTIONS,
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
)


def server_credentials(
    files: TlsFiles, *, client_roots: bytes | None = None, require_client_auth: bool = True
) -> grpc.ServerCredentials:
    """The process's certificate; clients must show one issued by `client_roots` (default: the service CA).

    Without client authentication no client certificate is asked for at all (the enrollment port, where
    agents have none yet): grpc cannot ask for an optional one. That port also sends the CA after its own
    certificate, so that an enrolling agent can find the CA whose fingerprint it was given in the chain.
    """
    cert, key, ca = files.read()
    if not require_client_auth:
        chain = cert if cert.endswith(b"\n") else cert + b"\n"
        return grpc.ssl_server_credentials(
            [(key, chain + ca)], root_certificates=None, require_client_auth=False
        )
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_roots or ca, require_client_auth=True
    )


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    cert, key, ca = files.read()
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def open_channel(target: str, files: TlsFiles | None, *, server_name: str = "") -> grpc.aio.Channel:
    """An asyncio channel to another service: mutual TLS when files are given, plaintext (dev only) otherwise."""
    options = list(MESSAGE_OPTIONS)
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    interceptors = [*client_interceptors(), *client_metrics_interceptors()]
    if files is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(
        target, channel_credentials(files), options=options, interceptors=interceptors
    )


def peer_certificate(context: grpc.aio.ServicerContext) -> x509.Certificate | None:
    """The verified client certificate, or None on an insecure or server-only TLS connection."""
    values = context.auth_context().get("x509_pem_cert") or []
    return x509.load_pem_x509_certificate(values[0]) if values else None


def peer_common_name(context: grpc.aio.ServicerContext) -> str:
    """The CN of the verified client certificate, or "" on an insecure or server-only TLS connection."""
    values = context.auth_context().get("x509_common_name") or []
    return values[0].decode() if values else ""


# Compared and hashed by identity: a process loads its node CA once, and the interceptor's cache of
# classified certificates keys on it at every call.
@dataclass(frozen=True, eq=False)
class NodeCa:
    """The CA of agents' client certificates, as one process trusts it. Ports trust exactly `pem` and the
    interceptor makes agents of exactly the certificates `issued` accepts, so the two cannot disagree."""

    authority: CertifiedKey  # with its private key only where asked for (auth signs node certificates)

    @property
    def certificate(self) -> x509.Certificate:
        return self.authority.certificate

    @property
    def pem(self) -> bytes:
        return self.authority.cert_pem()

    def issued(self, certificate: x509.Certificate) -> bool:
        """True when this CA signed `certificate` (its issuer name alone proves nothing)."""
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


def load_node_ca(settings: ServiceSettings, *, key: Path | None = None) -> NodeCa | None:
    """The configured node CA (with the private key in `key`, when given), or None without TLS files or
    without a node CA setting. Refuses at start a file that cannot be loaded and a node CA that is the
    service CA: every service certificate would then pass for a node's, and the reverse."""
    files = settings.tls_files()
    if files is None or settings.node_ca is None:
        return None
    try:
        authority = load_certified_key(settings.node_ca, key)
        service_ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"cannot load the node CA ({settings.node_ca}) or the service CA ({files.ca}): {exc}; "
            "`python -m services.kit.pki init <pki dir> --names …` creates the missing files"
        ) from exc
    check_distinct_cas(service_ca, authority.certificate)
    return NodeCa(authority)
