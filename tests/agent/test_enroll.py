"""`convoy-agent enroll`: the pinned CA is checked before the token leaves the node; files land with safe modes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.agent.test_run_fakes import (
    AGENT_DIR,
    TOKEN,
    Servers,
    agent_pb2,
    configuration,
    enroll,
    enroll_node,
)

FACTS = agent_pb2.Facts(hostname="node-1", os_id="debian", package_family=agent_pb2.PACKAGE_FAMILY_DEB)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_enroll_stores_key_certificate_ca_and_configuration(servers: Servers, tmp_path: Path) -> None:
    state, config_file = tmp_path / "state", tmp_path / "etc" / "agent.json"

    result = enroll.enroll(
        servers.enroll_address,
        TOKEN,
        servers.pki.fingerprint,
        str(state),
        config_file=str(config_file),
        sandbox_root=str(tmp_path / "root"),
        facts=FACTS,
    )

    assert mode(state) == 0o700
    assert mode(state / "node-key.pem") == 0o600
    certificate = x509.load_pem_x509_certificate((state / "node.pem").read_bytes())
    key = serialization.load_pem_private_key((state / "node-key.pem").read_bytes(), None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert certificate.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    assert (state / "ca.pem").read_bytes() == servers.pki.service_ca.cert_pem()
    values = json.loads(config_file.read_text())
    assert values["node_id"] == result.node_id == certificate.subject.rfc4514_string().removeprefix("CN=")
    assert values["agent_address"] == f":{servers.agent_port}"
    assert values["server"] == servers.enroll_address
    assert values["sandbox_root"] == str(tmp_path / "root")
    assert values["ca_fingerprint"] == servers.pki.fingerprint
    assert configuration.load(str(config_file)).scheduler_target() == f"127.0.0.1:{servers.agent_port}"


def test_a_wrong_fingerprint_stops_before_the_token_is_sent(servers: Servers, tmp_path: Path) -> None:
    other = "sha256:" + "ab" * 32

    with pytest.raises(enroll.EnrollError, match="did not present the pinned CA"):
        enroll.enroll(servers.enroll_address, TOKEN, other, str(tmp_path / "state"), facts=FACTS)

    assert servers.edge.enroll_calls == 0
    assert not (tmp_path / "state").exists()


def test_a_refused_token_is_reported_and_nothing_is_written(servers: Servers, tmp_path: Path) -> None:
    with pytest.raises(enroll.EnrollError, match="join token was refused"):
        enroll.enroll(
            servers.enroll_address,
            "cvj_wrong",
            servers.pki.fingerprint,
            str(tmp_path / "state"),
            config_file=str(tmp_path / "agent.json"),
            facts=FACTS,
        )

    assert servers.edge.enroll_calls == 1
    assert not (tmp_path / "agent.json").exists()


def test_a_ca_file_must_match_the_fingerprint(servers: Servers, tmp_path: Path) -> None:
    good, bad = tmp_path / "ca.pem", tmp_path / "other.pem"
    good.write_bytes(servers.pki.service_ca.cert_pem())
    bad.write_bytes(servers.pki.node_ca.cert_pem())
    state = tmp_path / "state"

    with pytest.raises(enroll.EnrollError, match="no certificate with the pinned fingerprint"):
        enroll.enroll(
            servers.enroll_address, TOKEN, servers.pki.fingerprint, str(state), ca_file=str(bad), facts=FACTS
        )
    enroll_node(servers, tmp_path, FACTS, ca_file=good)

    assert (state / "ca.pem").read_bytes() == servers.pki.service_ca.cert_pem()


@pytest.mark.parametrize("text", ["abc", "sha256:" + "g" * 64, "md5:" + "a" * 64])
def test_malformed_fingerprints_are_refused(text: str) -> None:
    with pytest.raises(enroll.EnrollError, match="--ca-fingerprint"):
        enroll.parse_fingerprint(text)


def test_fingerprints_are_accepted_with_colons_and_capitals(servers: Servers) -> None:
    hex_digits = servers.pki.fingerprint.removeprefix("sha256:")
    colons = "SHA256:" + ":".join(hex_digits[i : i + 2] for i in range(0, 64, 2)).upper()

    assert enroll.parse_fingerprint(colons) == hex_digits


def run_enroll(
    servers: Servers, tmp_path: Path, *token_args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`convoy-agent enroll` against `servers` as its own process, state and configuration under tmp_path."""
    command = [
        sys.executable,
        "-m",
        "convoy_agent",
        "enroll",
        "--server",
        servers.enroll_address,
        *token_args,
    ]
    command += ["--ca-fingerprint", servers.pki.fingerprint, "--state-dir", str(tmp_path / "state")]
    command += ["--config", str(tmp_path / "agent.json")]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_the_enroll_command_line(servers: Servers, tmp_path: Path) -> None:
    config_file = tmp_path / "agent.json"
    env = dict(os.environ, PYTHONPATH=str(AGENT_DIR))

    done = run_enroll(servers, tmp_path, "--token", TOKEN, env=env)
    refused = run_enroll(servers, tmp_path, "--token", "cvj_other", env=env)

    assert done.returncode == 0, done.stderr
    node_id = json.loads(config_file.read_text())["node_id"]
    assert f"enrolled as node {node_id}" in done.stdout
    assert refused.returncode == 1
    assert "join token was refused" in refused.stderr
