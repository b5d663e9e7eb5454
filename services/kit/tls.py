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
]

# Room for 1 MiB transfer chunks plus framing; everything else is far smaller.
MESSAGE_OPTIONS: Sequence[tuple[str, int]] = (
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
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
