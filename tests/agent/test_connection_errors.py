"""The control stream's error paths: a closed channel during renewal, a refused node."""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path

import grpc
import pytest

from tests.agent.test_run import running
from tests.agent.test_run_fakes import Servers, cli, configuration, connection


def test_renewal_on_a_closed_channel_is_retried_later(
    config: configuration.Config, caplog: pytest.LogCaptureFixture
) -> None:
    agent = cli.build_agent(config)
    agent.identity.renewal_due = lambda now: True  # type: ignore[method-assign]
    channel = connection.open_channel(config.scheduler_target(), agent.identity, "scheduler")
    channel.close()
    session = connection.Session()

    with caplog.at_level(logging.WARNING, logger="convoy_agent.connection"):
        agent._renew(session, channel)

    assert not session.renewed
    assert "certificate renewal failed" in caplog.text


def test_a_refused_node_is_told_to_enroll_again(
    servers: Servers, config: configuration.Config, caplog: pytest.LogCaptureFixture
) -> None:
    servers.edge.deny_next = 1

    with caplog.at_level(logging.INFO, logger="convoy_agent.connection"), running(config):
        stream = servers.edge.next_stream()
        stream.next("hello")

    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert errors and "must be enrolled again" in errors[0].getMessage()
    assert "node is revoked" in errors[0].getMessage()


def test_an_expired_certificate_is_told_to_enroll_again(
    config: configuration.Config, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    from datetime import datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(Path(config.key_file).read_bytes(), None)
    issuer = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, config.node_id)])
    now = datetime.now(UTC)
    expired = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(now - timedelta(days=1))
        .sign(issuer, hashes.SHA256())
    )
    Path(config.cert_file).write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    config.connect_timeout_seconds = 1.0
    agent = cli.build_agent(config)

    with caplog.at_level(logging.INFO, logger="convoy_agent.connection"):
        try:
            agent._serve(connection.Session())
        except grpc.RpcError:
            pass

    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert any("certificate expired" in message and "enrolled again" in message for message in errors)
