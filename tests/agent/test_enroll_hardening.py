"""Enrollment against servers that are not what they claim: garbage and truncated handshakes, closed
ports, a pinned certificate that is not a CA, CA bundles; the token kept out of `ps`; re-enrollment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from services.kit.pki import fingerprint
from tests.agent.test_enroll import FACTS, run_enroll
from tests.agent.test_run_fakes import AGENT_DIR, TOKEN, Servers, enroll, enroll_node, journal


def one_shot_server(answer: bytes) -> tuple[str, threading.Thread]:
    """A TCP server that reads the ClientHello, sends `answer` and closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        with listener:
            listener.settimeout(30)
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"127.0.0.1:{listener.getsockname()[1]}", thread


def record(kind: int, body: bytes) -> bytes:
    return bytes([kind, 3, 3]) + len(body).to_bytes(2, "big") + body


def handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


PIN = "ab" * 32


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS at all",
        # A Certificate message that announces more than it carries, and one of two bytes.
        record(22, handshake(11, b"\x00\x10\x00\x00\x05abc")),
        record(22, handshake(11, b"\x00\x10")),
        record(22, b"\x0b\x00"),
    ],
    ids=["garbage", "truncated-entry", "short-body", "short-handshake"],
)
def test_a_server_answering_garbage_is_a_clear_error(answer: bytes) -> None:
    address, thread = one_shot_server(answer)
    with pytest.raises(enroll.EnrollError, match="certificate chain of|did not present the pinned CA"):
        enroll.fetch_pinned_ca(address, PIN, timeout=10)
    thread.join(10)


def test_a_closed_port_is_a_clear_error() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(enroll.EnrollError, match=f"could not read the certificate chain of 127.0.0.1:{port}"):
        enroll.fetch_pinned_ca(f"127.0.0.1:{port}", PIN, timeout=10)


def test_short_certificate_bodies_give_no_certificates() -> None:
    assert enroll._certificate_list(b"") == []
    assert enroll._certificate_list(b"\x00") == []
    assert enroll._certificate_list(b"\x00\x00\x09\x00\x00\x09abc") == []


def test_the_enroll_command_reports_a_closed_port_without_a_traceback(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    done = subprocess.run(
        [sys.executable, "-m", "convoy_agent", "enroll", "--server", f"127.0.0.1:{port}"]
        + ["--token", TOKEN, "--ca-fingerprint", "sha256:" + PIN, "--state-dir", str(tmp_path / "s")],
        env=dict(os.environ, PYTHONPATH=str(AGENT_DIR)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "could not read the certificate chain" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_pinned_certificate_that_is_no_ca_is_refused_on_both_paths(
    servers: Servers, tmp_path: Path
) -> None:
    leaf = fingerprint(servers.pki.scheduler.certificate)
    with pytest.raises(enroll.EnrollError, match="not a CA certificate"):
        enroll.enroll(servers.enroll_address, TOKEN, leaf, str(tmp_path / "a"), facts=FACTS)
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes(servers.pki.scheduler.cert_pem())
    with pytest.raises(enroll.EnrollError, match="not a CA certificate"):
        enroll.enroll(
            servers.enroll_address, TOKEN, leaf, str(tmp_path / "b"), ca_file=str(leaf_file), facts=FACTS
        )
    assert servers.edge.enroll_calls == 0


def test_a_ca_file_bundle_gives_only_the_pinned_certificate(servers: Servers, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(servers.pki.scheduler.cert_pem() + servers.pki.service_ca.cert_pem())
    state = tmp_path / "state"

    enroll_node(servers, tmp_path, FACTS, ca_file=bundle)

    assert (state / "ca.pem").read_bytes() == servers.pki.service_ca.cert_pem()


def test_tls_1_3_is_turned_off_where_ssl_does_not_name_the_option() -> None:
    assert enroll.no_tls13_option(types.SimpleNamespace()) == 0x20000000
    assert enroll.no_tls13_option(types.SimpleNamespace(OP_NO_TLSv1_3=4)) == 4


def test_enrolling_again_as_another_node_sets_the_old_journal_aside(servers: Servers, tmp_path: Path) -> None:
    state = tmp_path / "state"

    first = enroll_node(servers, tmp_path, FACTS)
    book = journal.Journal(str(state))
    book.begin("task-1", 1, b"", name="app", format=1)
    book.record_result("task-1", 1, "succeeded", b"result")
    (state / "managed.json").write_text('[["app", 1]]')
    second = enroll_node(servers, tmp_path, FACTS)

    assert second.node_id != first.node_id
    assert journal.Journal(str(state)).unacknowledged() == []
    assert (state / f"journal.{first.node_id}" / "task-1.1.json").is_file()
    assert not (state / "managed.json").exists()
    assert (state / f"managed.json.{first.node_id}").read_text() == '[["app", 1]]'


def test_the_token_comes_from_a_file_or_the_environment(servers: Servers, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = dict(os.environ, PYTHONPATH=str(AGENT_DIR))
    env.pop("CONVOY_JOIN_TOKEN", None)

    by_file = run_enroll(servers, tmp_path, "--token-file", str(token_file), env=env)
    by_env = run_enroll(servers, tmp_path, env=dict(env, CONVOY_JOIN_TOKEN=TOKEN))
    missing = run_enroll(servers, tmp_path, env=env)

    assert by_file.returncode == 0, by_file.stderr
    assert by_env.returncode == 0, by_env.stderr
    assert json.loads((tmp_path / "agent.json").read_text())["node_id"]
    assert missing.returncode == 1
    assert "no join token" in missing.stderr
    assert servers.edge.enroll_calls == 2
