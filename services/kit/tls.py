"""gRPC credentials from our own PKI: mutual TLS for servers and channels, peer identity from certificates."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from cryptography import x509

from services.kit.settings import TlsFiles

__all__ = [
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
    if files is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, channel_credentials(files), options=options)


def peer_certificate(context: grpc.aio.ServicerContext) -> x509.Certificate | None:
    """The verified client certificate, or None on an insecure or server-only TLS connection."""
    values = context.auth_context().get("x509_pem_cert") or []
    return x509.load_pem_x509_certificate(values[0]) if values else None


def peer_common_name(context: grpc.aio.ServicerContext) -> str:
    """The CN of the verified client certificate, or "" on an insecure or server-only TLS connection."""
    values = context.auth_context().get("x509_common_name") or []
    return values[0].decode() if values else ""
